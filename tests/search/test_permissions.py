"""Who may search: the ``search-client`` kind and ops, on REST and on gRPC alike. Every other principal is refused
``PERMISSION_DENIED`` before anything is stored, and a search client reads and places nothing of orders (the
checkout routes' matrix, tests/checkout/api/test_permissions.py, leaves the search lane to this file)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from access.tokens import create_token
from checkout import demo
from tests.checkout.api.conftest import grpc_target, token  # noqa: F401  (fixtures)
from tests.checkout.api.transports import Grpc
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts
from tests.search.transports import SearchGrpc, SearchRest

PRINCIPALS = {
    "search-client": ("search-client", ""),
    "ops": ("ops", ""),
    "ordering-client": ("ordering-client", "alice"),
    "restaurant": ("restaurant", "chez-manuel"),
    "courier": ("courier", "courier-max"),
    "error-sink": ("error-sink", ""),
    "subscriber": ("subscriber", ""),
    "ftgo-gateway": ("ftgo-gateway", ""),
}
SEARCHERS = {"search-client", "ops"}


@pytest.fixture
def keys(live_server: Any) -> dict[str, str]:
    demo.load()
    return {
        name: create_token(kind=kind, binding=binding, name=name).key for name, (kind, binding) in PRINCIPALS.items()
    }


def test_only_search_clients_and_ops_search_or_read_an_answer_on_either_transport(live_server, grpc_target, keys):  # noqa: F811
    ways = {"rest": SearchRest(live_server.url, keys["ops"]), "grpc": SearchGrpc(grpc_target, keys["ops"])}
    stored = ways["rest"].search({"text": "red apple pie"}, "perm-stored")
    assert stored.code == "OK"
    query_id = stored.data["queryId"]
    seen = {}
    for name, key in keys.items():
        rows = all_insert_only_counts()
        for way, client in ways.items():
            searched = client.search({"text": "green pear"}, f"perm-{name}-{way}", token=key)
            read = client.answer(query_id, token=key)
            seen[name, way] = (searched.code, read.code)
            if name not in SEARCHERS:
                kind = PRINCIPALS[name][0]
                assert searched.data["message"] == f"a token of kind {kind} lacks the scope search:query", way
        if name not in SEARCHERS:
            assert all_insert_only_counts() == rows, name
    expected = {
        (name, way): ("OK", "OK") if name in SEARCHERS else ("PERMISSION_DENIED", "PERMISSION_DENIED")
        for name in PRINCIPALS
        for way in ways
    }
    assert seen == expected


def test_a_search_client_reads_and_places_no_order(live_server, grpc_target, keys):  # noqa: F811
    key = keys["search-client"]
    rest, grpc = SearchRest(live_server.url, key), Grpc(grpc_target, key)
    rows = all_insert_only_counts()
    order = str(uuid.uuid4())
    assert rest.send("POST", "/api/v1/orders", order_body(), **{"Idempotency-Key": "search-places"}).code == (
        "PERMISSION_DENIED"
    )
    assert rest.send("GET", f"/api/v1/orders/{order}").code == "PERMISSION_DENIED"
    assert grpc.get(order).code == "PERMISSION_DENIED"
    assert grpc.create(order_body(), "search-places").code == "PERMISSION_DENIED"
    assert all_insert_only_counts() == rows
