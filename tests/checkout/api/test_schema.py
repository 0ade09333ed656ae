"""The OpenAPI schema: valid with no warning, and schemathesis finds no 5xx and no schema violation against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from checkout import demo

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
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


def test_schemathesis_finds_no_server_error_and_no_schema_violation(token, demo_data_loaded):
    headers = {"Authorization": f"Token {token}"}
    with in_one_transaction():
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema?format=json", get_wsgi_application())
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            run()


@pytest.fixture
def demo_data_loaded(db):
    demo.load()
