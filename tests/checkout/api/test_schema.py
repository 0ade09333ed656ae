"""The OpenAPI schema: valid with no warning, and schemathesis finds no 5xx and no schema violation against it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as registered_checks
from schemathesis.checks import load_all_checks

from checkout import demo

# `--checks all`: every check schemathesis registers (conformance of status, content type, headers and body;
# schema-valid requests accepted (ST202) and schema-invalid ones refused (ST201); auth, methods, resources).
load_all_checks()  # the OpenAPI checks register themselves when their module is imported
CHECKS = list(registered_checks.get_all())
# FTGO's bodies name stored rows by FTGO's numbers (docs/ftgo.md), which a schema cannot express and no generated
# number names: a schema-valid /ftgo/ request is refused by the route, so ST202 is not asked there (every other
# check is, and tests/ftgo covers what the routes accept).
FTGO_CHECKS = [check for check in CHECKS if check.__name__ != "positive_data_acceptance"]
# Positive and negative examples per operation: bounded so the run stays well under a minute.
EXAMPLES_PER_OPERATION = 12


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/orders" in (tmp_path / "schema.yaml").read_text()


@pytest.mark.parametrize("path", ["/api/v1/schema", "/api/v1/docs", "/api/v1/redoc"])
def test_the_schema_and_its_docs_are_open(client, path):
    assert client.get(path).status_code == 200


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """The ingest route's body: a generated string is sent as is; anything else as one JSON line."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode() + b"\n"


@contextmanager
def in_one_transaction() -> Iterator[None]:
    """Like Django's test client: requests must not close the test's connection (it holds the test transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Ids the schema cannot express (they name stored rows): a schema-valid order names demo reference data, so that
# positive cases get past validation and place orders. Each menu item once (the server refuses an item listed
# twice, which the schema cannot say either).
DEMO_MENUS = {restaurant[0]: [item[0] for item in restaurant[6]] for restaurant in demo.RESTAURANTS}
DEMO_CONSUMERS = [consumer[0] for consumer in demo.CONSUMERS]


def with_demo_references(case: schemathesis.Case) -> None:
    body = case.body
    if case.operation.label != "POST /api/v1/orders" or not isinstance(body, dict):
        return
    seed = len(json.dumps(body, default=str))
    restaurant = sorted(DEMO_MENUS)[seed % len(DEMO_MENUS)]
    menu = DEMO_MENUS[restaurant]
    body["consumerId"] = DEMO_CONSUMERS[seed % len(DEMO_CONSUMERS)]
    body["restaurantId"] = restaurant
    body["items"] = body["items"][: len(menu)]
    for item, menu_item in zip(body["items"], menu, strict=False):
        item["menuItemId"] = menu_item


def buffered(app: Any) -> Any:
    """The WSGI app's answer read to its end and closed, as a server does (the test client reads a streamed body
    without closing it, which would keep each NDJSON stream's admission slot taken)."""

    def serve(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        answer = app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            answer.close()

    return serve


def test_schemathesis_finds_no_server_error_and_no_schema_violation(token, demo_data_loaded):
    headers = {"Authorization": f"Token {token}"}
    statuses: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    with in_one_transaction():
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", buffered(get_wsgi_application()))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:
            if mode is GenerationMode.NEGATIVE and operation.label == "POST /api/v1/orders/ingest":
                # Any bytes are an NDJSON stream at the HTTP level (a line that is not an order gets its own error
                # line in the 200 stream): the route has no schema-invalid body to refuse.
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                if case.meta is not None and case.meta.generation.mode.is_positive:
                    with_demo_references(case)
                checks = FTGO_CHECKS if case.operation.path.startswith("/ftgo/") else CHECKS
                response = case.call_and_validate(headers=headers, checks=checks)
                statuses[(case.operation.label, response.status_code)] += 1

            try:
                run()
            except (Exception, BaseExceptionGroup) as failure:  # every operation runs; all failures are reported
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    print("schemathesis statuses:", sorted(statuses.items()))  # the figures behind docs/api.md's claim
    assert not failures, "\n\n".join(failures)
    assert sum(n for (_, status), n in statuses.items() if status >= 500) == 0
    assert statuses[("POST /api/v1/orders", 201)] > 0, statuses


@pytest.fixture
def demo_data_loaded(db):
    demo.load()


def test_every_operation_lists_the_format_refusals_every_route_answers(client):
    """406 (asks for a format the route cannot render) and 501 (protobuf-over-HTTP where the route has no gRPC
    message) are answered by every JSON route, the engine's and the search lane's included."""
    schema = client.get("/api/v1/schema?format=json").json()
    missing = {
        f"{method.upper()} {path}": sorted({"406", "501"} - set(operation["responses"]))
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    assert {operation: codes for operation, codes in missing.items() if codes} == {}


def test_the_operations_that_can_answer_purged_list_410_and_no_other_does(client):
    """An order the retention policy removed answers 410 ``PURGED`` where its key or its id is given
    (docs/operations.md, "The tombstone answer"): a generated client learns it from the schema."""
    schema = client.get("/api/v1/schema?format=json").json()
    listing = {
        operation["operationId"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        if "410" in operation["responses"]
    }
    assert listing == {
        "createOrder",
        "getOrder",
        "getOrderLineage",
        "cancelOrder",
        "reviseOrder",
        "ftgoCreateOrder",
        "ftgoGetOrder",
        "ftgoCancelOrder",
        "ftgoReviseOrder",
        "ftgoAcceptTicket",
        "ftgoGetDelivery",
    }
