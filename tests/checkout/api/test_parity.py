"""The parity matrix: REST, gRPC, FUNCTION and protobuf-over-HTTP give the same answers to the same requests.

Real servers on ports (pytest-django's live server, an in-process gRPC server); the same orderId, state and
checkpoints for successes, the same code (and the same field details) for failures, nothing stored for a refusal.
"""

from __future__ import annotations

import datetime
import re
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
from django.utils import timezone

from access.tokens import create_token
from checkout import demo, services
from pipelines.recovery import retention
from tests.checkout.api.transports import MALFORMED, Result
from tests.checkout.conftest import ADDRESS, order_body
from tests.conftest import all_insert_only_counts

NAMES = ("rest", "grpc", "function", "protobuf")


@pytest.fixture
def ways(transports: dict[str, Any]) -> dict[str, Any]:
    demo.load()
    return transports


def manual_order_body() -> dict[str, Any]:
    return order_body(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}])


def test_create_then_replay_gives_one_order_per_key_on_every_transport(ways):
    created: dict[str, Result] = {}
    for name in NAMES:
        first = ways[name].create(order_body(), f"parity-new-{name}")
        again = ways[name].create(order_body(), f"parity-new-{name}")
        assert (first.code, first.replayed, again.code, again.replayed) == ("OK", False, "OK", True), name
        assert again.summary() == first.summary()
        if first.http is not None:
            assert (first.http, again.http) == (201, 200)
        created[name] = first
    states = {name: result.order["state"] for name, result in created.items()}
    assert set(states.values()) == {"COMPLETED"}, states
    types = {name: [t for t, _ in result.summary()[2]] for name, result in created.items()}
    assert all(t == types["rest"] for t in types.values()), types
    assert len({result.order["orderId"] for result in created.values()}) == 4
    with urllib.request.urlopen(ways["rest"].base + "/metrics", timeout=30) as response:
        metrics = response.read().decode()
    for transport, route in (
        ("rest", "POST /api/v1/orders"),
        ("protobuf", "POST /api/v1/orders"),
        ("function", "POST /api/v1/orders"),
        ("grpc", "/tpfgo.checkout.v1.OrderService/CreateOrder"),
    ):
        assert f'tpfgo_requests_total{{route="{route}",status="OK",transport="{transport}"}}' in metrics, transport
        assert f'tpfgo_request_seconds_count{{route="{route}",transport="{transport}"}}' in metrics, transport


def test_a_key_first_used_on_one_transport_replays_on_every_other(ways):
    for first in NAMES:
        original = ways[first].create(order_body(), f"parity-cross-{first}")
        assert original.code == "OK" and not original.replayed
        rows = all_insert_only_counts()
        for name in NAMES:
            replay = ways[name].create(order_body(), f"parity-cross-{first}")
            assert (replay.code, replay.replayed) == ("OK", True), (first, name)
            assert replay.summary() == original.summary(), (first, name)
        assert all_insert_only_counts() == rows


def test_the_same_key_with_a_different_body_is_already_exists_everywhere(ways):
    ways["rest"].create(order_body(), "parity-conflict")
    rows = all_insert_only_counts()
    other = order_body(items=[{"menuItemId": "pepperoni", "quantity": 1}])
    codes = {name: ways[name].create(other, "parity-conflict").code for name in NAMES}
    assert codes == dict.fromkeys(NAMES, "ALREADY_EXISTS")
    assert all_insert_only_counts() == rows


BAD_BODIES = {
    "malformed body": (MALFORMED, None),
    "unknown restaurant": (order_body(restaurant="nowhere"), [("restaurantId", "unknown restaurant")]),
    "unknown menu item": (
        order_body(items=[{"menuItemId": "sushi", "quantity": 1}]),
        [("items[0].menuItemId", "unknown menu item")],
    ),
    "quantity 0": (
        order_body(items=[{"menuItemId": "margherita", "quantity": 0}]),
        [("items[0].quantity", "must be an integer from 1 to 99")],
    ),
    "empty order": ({}, None),
    # What only the serializer that documents the body knows: the same field path and issue on every transport.
    "quantity 100": (
        order_body(items=[{"menuItemId": "margherita", "quantity": 100}]),
        [("items[0].quantity", "must be an integer from 1 to 99")],
    ),
    "a time without a zone": (
        order_body(deliveryTime="2026-12-24T18:00:00"),
        [("deliveryTime", "must be an ISO-8601 time with a zone")],
    ),
    "no city": (
        order_body(deliveryAddress={"street1": "1 Main St", "state": "CA", "zip": "94612"}),
        [("deliveryAddress.city", "is required")],
    ),
    "a control character and an overlong id": (
        order_body(consumer="x" * 301, deliveryAddress={**ADDRESS, "street1": "1 Main\x07St"}),
        [
            ("consumerId", "must be a string of at most 300 characters"),
            ("deliveryAddress.street1", "must not contain control characters"),
        ],
    ),
}


def test_a_bad_order_is_invalid_argument_on_every_transport_and_stores_nothing(ways):
    rows = all_insert_only_counts()
    for case, (body, details) in BAD_BODIES.items():
        results = {name: ways[name].create(body, f"parity-bad-{name}") for name in NAMES}
        assert {name: r.code for name, r in results.items()} == dict.fromkeys(NAMES, "INVALID_ARGUMENT"), case
        for name, result in results.items():
            if details is not None:
                assert [(d["field"], d["issue"]) for d in result.data["details"]] == details, (case, name)
            assert "Traceback" not in str(result.data) and 'File "' not in str(result.data), (case, name)
        missing_key = {name: ways[name].create(order_body(), None).code for name in NAMES}
        assert missing_key == dict.fromkeys(NAMES, "INVALID_ARGUMENT")
    assert all_insert_only_counts() == rows


def test_unknown_and_malformed_order_ids_are_not_found_everywhere(ways):
    for order_id in (str(uuid.UUID(int=7)), "not-an-order-id"):
        for name in NAMES:
            client = ways[name]
            codes = [client.get(order_id).code, client.lineage(order_id).code, client.cancel(order_id).code]
            assert codes == ["NOT_FOUND"] * 3, (order_id, name)


def test_a_purged_order_is_purged_everywhere_its_key_replayed_or_its_id_read_and_nothing_is_inserted(ways):
    order_ids = {name: ways[name].create(order_body(), f"parity-purged-{name}").order["orderId"] for name in NAMES}
    later = timezone.now() + datetime.timedelta(days=400)  # past the orders policy
    (outcome,) = retention.purge(actor="parity test", policies=["orders"], now=later)
    assert outcome.items == 4
    rows = all_insert_only_counts()
    for first, order_id in order_ids.items():
        for name in NAMES:
            client = ways[name]
            answers = [
                client.create(order_body(), f"parity-purged-{first}"),
                client.get(order_id),
                client.lineage(order_id),
                client.cancel(order_id),
            ]
            assert [a.code for a in answers] == ["PURGED"] * 4, (first, name)
            wire = (None, "NOT_FOUND") if name == "grpc" else (410, None)
            assert all((a.http, a.grpc) == wire for a in answers), (first, name)
            # That the key was used and its order purged, never when: the date would tell roughly when it was placed.
            messages = [a.data["message"] for a in answers]
            assert messages[1:] == [f"order {order_id} was purged by the retention policy"] * 3, (first, name)
            # The key as this transport spells it (Idempotency-Key, idempotency-key metadata).
            assert re.fullmatch(r"the order of this \S+ was purged by the retention policy", messages[0]), name
    assert all_insert_only_counts() == rows


def test_a_purged_order_reads_to_a_bound_client_exactly_as_an_id_that_names_nothing(ways):
    """Its tombstone keeps no owner: the client bound to its consumer and one bound to another are both answered as
    for an id never used (code, status and message alike), on every transport; ops are still told ``PURGED``."""
    order_id = ways["rest"].create(order_body(), "parity-bound-purged").order["orderId"]  # alice's
    later = timezone.now() + datetime.timedelta(days=400)  # past the orders policy
    (outcome,) = retention.purge(actor="parity test", policies=["orders"], now=later)
    assert outcome.items == 1
    bound = [create_token(kind="ordering-client", binding=binding, name=binding).key for binding in ("alice", "bob")]
    rows = all_insert_only_counts()

    def answers(client: Any, asked: str, token: str) -> list[tuple[Any, ...]]:
        calls = [client.get(asked, token), client.lineage(asked, token), client.cancel(asked, token=token)]
        calls += [client.watch(asked, token)] if hasattr(client, "watch") else []  # gRPC's WatchOrder
        return [(a.code, a.http, a.grpc, a.data["message"].replace(asked, "ID")) for a in calls]

    for name in NAMES:
        for token in bound:
            never = answers(ways[name], str(uuid.UUID(int=7)), token)
            assert {code for code, *_ in never} == {"NOT_FOUND"}, name
            assert answers(ways[name], order_id, token) == never, name
        assert ways[name].get(order_id).code == "PURGED", name  # the ops token
    assert all_insert_only_counts() == rows


def calls_with_bad_input(client: Any, order_id: str, token: Any, key: str) -> list[Result]:
    """Six calls, four of them with input the route refuses (malformed, no key, an unknown id)."""
    return [
        client.create(order_body(), f"{key}-new", token=token),
        client.create(MALFORMED, f"{key}-bad", token=token),
        client.create(order_body(), None, token=token),
        client.get(order_id, token=token),
        client.lineage("not-an-order-id", token=token),
        client.cancel(order_id, token=token),
    ]


def test_a_missing_or_wrong_token_is_unauthenticated_everywhere_before_validation(ways):
    order_id = ways["rest"].create(order_body(), "parity-auth").order["orderId"]
    rows = all_insert_only_counts()
    for name, credential in ((name, credential) for name in NAMES for credential in (None, "not-a-token")):
        results = calls_with_bad_input(ways[name], order_id, credential, "parity-auth")
        assert [r.code for r in results] == ["UNAUTHENTICATED"] * 6, name
        assert all(r.http in (None, 401) for r in results)
    assert all_insert_only_counts() == rows


def test_a_principal_without_the_scope_or_not_the_owner_is_refused_everywhere_before_validation(ways):
    order_id = ways["rest"].create(order_body(), "parity-denied").order["orderId"]  # alice's
    restaurant = create_token(kind="restaurant", binding="chez-manuel").key  # no orders:* scope
    bob = create_token(kind="ordering-client", binding="bob").key  # the scopes, not the consumer
    rows = all_insert_only_counts()
    for name in NAMES:
        client = ways[name]
        results = [
            *calls_with_bad_input(client, order_id, restaurant, "parity-denied"),
            client.create(order_body(), "parity-denied-bob", token=bob),
        ]
        assert [r.code for r in results] == ["PERMISSION_DENIED"] * 7, name
        assert all(r.http in (None, 403) for r in results)
        # Alice's order is not Bob's to know of: the answer of an id that names nothing (test_permissions.py).
        hidden = [client.get(order_id, token=bob), client.lineage(order_id, token=bob)]
        hidden.append(client.cancel(order_id, token=bob))
        assert [r.code for r in hidden] == ["NOT_FOUND"] * 3, name
        assert all(r.http in (None, 404) for r in hidden)
        assert all("ordering-client" in r.data["message"] or "restaurant" in r.data["message"] for r in results)
    assert all_insert_only_counts() == rows


def test_get_and_lineage_answer_the_same_everywhere(ways):
    order_id = ways["grpc"].create(order_body(), "parity-read").order["orderId"]
    views = {name: ways[name].get(order_id) for name in NAMES}
    assert len({r.summary().__repr__() for r in views.values()}) == 1
    trees = {name: ways[name].lineage(order_id).data for name in NAMES}
    assert all(tree == trees["rest"] for tree in trees.values()), trees
    assert trees["rest"]["type"] == "OrderRequest" and trees["rest"]["children"]


def other_forms(order_id: str) -> list[str]:
    """The forms of an order id besides the canonical one that ``uuid.UUID`` reads (docs/api.md, "Ids")."""
    parsed = uuid.UUID(order_id)
    return [order_id.upper(), parsed.hex, parsed.hex.upper(), f"{{{order_id}}}", parsed.urn]


def in_path(name: str, form: str) -> str:
    """The id as the transport carries it: quoted in an HTTP path (``{`` is no URL character); a gateway hands a
    FUNCTION event its path decoded, and a gRPC field is not a URL."""
    return form if name in ("grpc", "function") else urllib.parse.quote(form, safe="")


def test_an_order_id_in_any_form_uuid_reads_names_the_same_order_everywhere_and_answers_the_canonical_one(ways):
    order_id = ways["rest"].create(order_body(), "parity-forms").order["orderId"]  # completed: a watch ends
    view, tree = ways["rest"].get(order_id).summary(), ways["rest"].lineage(order_id).data
    rows = all_insert_only_counts()
    for form in other_forms(order_id):
        for name in NAMES:
            assert ways[name].get(in_path(name, form)).summary() == view, (form, name)
            assert ways[name].lineage(in_path(name, form)).data == tree, (form, name)
        assert [c["id"] for c in ways["grpc"].watch(form).data["checkpoints"]] == [i for _, i in view[2]]
    assert all_insert_only_counts() == rows
    for name in NAMES:
        order_id = ways[name].create(manual_order_body(), f"parity-forms-{name}").order["orderId"]
        cancelled = ways[name].cancel(in_path(name, order_id.upper()))
        assert cancelled.code == "OK" and cancelled.data["cancellation"]["outcome"] == "ACCEPTED", name
        assert cancelled.order["orderId"] == order_id and cancelled.order["state"] == "CANCELLED", name
    # A protobuf body may name the order in another form than its URL: still the one order.
    order_id = ways["rest"].create(manual_order_body(), "parity-forms-body").order["orderId"]
    cancelled = ways["protobuf"].send("POST", f"/api/v1/orders/{order_id.upper()}/cancel", {"orderId": order_id})
    assert cancelled.code == "OK", cancelled.data
    assert (cancelled.order["orderId"], cancelled.order["state"]) == (order_id, "CANCELLED")
    rows = all_insert_only_counts()
    other = str(uuid.UUID(int=7))
    refused = ways["protobuf"].send("POST", f"/api/v1/orders/{order_id.upper()}/cancel", {"orderId": other})
    assert (refused.code, refused.data["details"]) == (
        "INVALID_ARGUMENT",
        [{"field": "order_id", "issue": "differs from URL"}],
    )
    assert all_insert_only_counts() == rows


def look_alike_forms(order_id: str) -> list[str]:
    """Texts ``uuid.UUID`` alone reads as the order's id that are none of the documented forms: its digits in
    another script (fullwidth, Arabic-Indic), and for an id that starts with ``0``, a space for that ``0``."""
    forms = [order_id.translate({ord(d): base + int(d) for d in "0123456789"}) for base in (0xFF10, 0x0660)]
    return forms + ([" " + order_id[1:]] if order_id.startswith("0") else [])


def test_an_order_id_written_with_look_alike_characters_is_not_found_everywhere(ways):
    # A key whose order id starts with 0 (the id derives from the key), so that a space can stand for the 0.
    key = next(k for k in (f"parity-look-alike-{n}" for n in range(1000)) if str(services.order_id_for(k))[0] == "0")
    order_id = ways["rest"].create(order_body(), key).order["orderId"]
    rows = all_insert_only_counts()
    forms = look_alike_forms(order_id)
    assert len(forms) == 3 and all(uuid.UUID(form) == uuid.UUID(order_id) for form in forms)  # uuid.UUID reads them
    for form in forms:
        for name in NAMES:
            client = ways[name]
            codes = [client.get(in_path(name, form)).code, client.cancel(in_path(name, form)).code]
            assert codes == ["NOT_FOUND"] * 2, (form, name)  # before: the order, and its cancellation
        assert ways["grpc"].watch(form).code == "NOT_FOUND", form
    assert all_insert_only_counts() == rows


def test_cancel_and_cancel_again_answer_the_same_everywhere_and_a_completed_order_is_refused(ways):
    for name in NAMES:
        order_id = ways[name].create(manual_order_body(), f"parity-cancel-{name}").order["orderId"]
        first = ways[name].cancel(order_id, note="changed my mind")
        assert first.code == "OK" and first.data["cancellation"]["outcome"] == "ACCEPTED", name
        assert first.order["state"] == "CANCELLED", name
        rows = all_insert_only_counts()
        for other in NAMES:
            again = ways[other].cancel(order_id)
            assert again.code == "OK"
            assert again.data["cancellation"]["outcome"] == "ACCEPTED", (name, other)
            assert again.summary() == first.summary(), (name, other)
        assert all_insert_only_counts() == rows
    order_id = ways["rest"].create(order_body(), "parity-refused").order["orderId"]
    decisions = {name: ways[name].cancel(order_id).data["cancellation"] for name in NAMES}
    for decision in decisions.values():
        assert (decision["outcome"], decision.get("reason")) == ("REFUSED", "ALREADY_TERMINAL")


def present(fields: dict[str, Any]) -> dict[str, Any]:
    """A message leaves a null field unset: compare what is set."""
    return {k: v for k, v in fields.items() if v is not None}


def crepes(quantity: int) -> dict[str, Any]:
    return {"items": [{"menuItemId": "crepe", "quantity": quantity}]}


def test_revise_and_replay_answer_the_same_everywhere_and_a_reused_key_is_a_failed_precondition(ways):
    for name in NAMES:
        order_id = ways[name].create(manual_order_body(), f"parity-revise-{name}").order["orderId"]
        first = ways[name].revise(order_id, crepes(3), f"rev-{name}")
        assert first.code == "OK", (name, first)
        assert (first.data["revision"]["outcome"], first.data["revision"].get("reason")) == ("ACCEPTED", None), name
        assert (first.order["orderTotal"], first.order["lines"][0]["quantity"]) == ("21.75", 3), name
        assert [r["outcome"] for r in first.order["revisions"]] == ["ACCEPTED"], name
        if first.http is not None:
            assert first.http == 200
        rows = all_insert_only_counts()
        for other in NAMES:
            again = ways[other].revise(order_id, crepes(3), f"rev-{name}")
            assert again.code == "OK", (name, other, again)
            assert present(again.data["revision"]) == present(first.data["revision"]), (name, other)
            assert again.summary() == first.summary(), (name, other)
            assert ways[other].revise(order_id, crepes(4), f"rev-{name}").code == "FAILED_PRECONDITION"
        assert all_insert_only_counts() == rows
    order_id = ways["rest"].create(order_body(), "parity-revise-late").order["orderId"]
    late = {"items": [{"menuItemId": "pepperoni", "quantity": 1}]}
    refused = {name: ways[name].revise(order_id, late, f"late-{name}").data["revision"] for name in NAMES}
    assert {(r["outcome"], r.get("reason")) for r in refused.values()} == {("REFUSED", "TOO_LATE")}


REVISE_REFUSALS = {
    "malformed body": (MALFORMED, "INVALID_ARGUMENT"),
    "empty items": ({"items": []}, "INVALID_ARGUMENT"),
    "unknown menu item": ({"items": [{"menuItemId": "sushi", "quantity": 1}]}, "INVALID_ARGUMENT"),
    "missing key": (crepes(1), "INVALID_ARGUMENT"),
}


def test_a_bad_revision_is_refused_with_the_same_code_everywhere_and_stores_nothing(ways):
    order_id = ways["rest"].create(manual_order_body(), "parity-revise-bad").order["orderId"]
    rows = all_insert_only_counts()
    for case, (body, code) in REVISE_REFUSALS.items():
        key = None if case == "missing key" else "parity-bad-revision"
        codes = {name: ways[name].revise(order_id, body, key).code for name in NAMES}
        assert codes == dict.fromkeys(NAMES, code), case
    unknown = {name: ways[name].revise(str(uuid.UUID(int=7)), crepes(1), "k").code for name in NAMES}
    assert unknown == dict.fromkeys(NAMES, "NOT_FOUND")
    assert all_insert_only_counts() == rows


JSON_ONLY = [
    ("GET", "/api/v1/consumers"),
    ("POST", "/api/v1/restaurants"),
    ("PUT", "/api/v1/couriers/courier-ann/availability"),
    ("POST", f"/api/v1/tickets/{uuid.UUID(int=1)}/accept"),
    ("POST", f"/api/v1/deliveries/{uuid.UUID(int=1)}/pickup"),
]
# The engine's routes and the search lane's (pipelines.TokenFirstView): JSON only as well.
ENGINE_JSON_ONLY = [
    ("POST", "/api/v1/search"),
    ("GET", f"/api/v1/search/{uuid.UUID(int=1)}"),
    ("POST", "/api/v1/error-sink/entries"),
    ("POST", "/api/v1/subscriptions/stream"),
    ("POST", "/api/v1/subscriptions/ack"),
]


def test_protobuf_on_a_route_without_a_grpc_message_is_unimplemented(ways):
    rows = all_insert_only_counts()
    for method, path in JSON_ONLY + ENGINE_JSON_ONLY:
        result = ways["protobuf"].send(method, path, None)
        assert (result.http, result.code) == (501, "UNIMPLEMENTED"), path
        assert "protobuf" in result.data["message"]
    assert all_insert_only_counts() == rows


def test_the_permission_is_decided_before_a_route_answers_unimplemented(ways):
    sink = create_token(kind="error-sink").key  # holds none of these routes' scopes
    for method, path in [*JSON_ONLY, *ENGINE_JSON_ONLY[:2], ("POST", "/api/v1/orders/ingest")]:
        result = ways["protobuf"].send(method, path, None, token=sink)
        assert (result.http, result.code) == (403, "PERMISSION_DENIED"), path
    streamed = ways["function"].send("POST", "/api/v1/orders/ingest", None, token=sink)
    assert (streamed.http, streamed.code) == (403, "PERMISSION_DENIED")
