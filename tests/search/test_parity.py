"""The search lane's parity rows: REST, gRPC and the FUNCTION handler give the same answers to the same requests,
the same code and field details for a refusal, and nothing is stored for one. Real servers on ports (pytest-django's
live server, an in-process gRPC server with the project's handlers); FUNCTION calls the same views in process.
Protobuf-over-HTTP is not served on the lane's routes: tests/checkout/api/test_parity.py has its 501 rows."""

from __future__ import annotations

from typing import Any

import pytest

from search.commands import NOT_A_TOKEN
from tests.checkout.api.conftest import grpc_target, token  # noqa: F401  (fixtures)
from tests.checkout.api.transports import MALFORMED
from tests.conftest import all_insert_only_counts
from tests.search.transports import SearchFunction, SearchGrpc, SearchRest

NAMES = ("rest", "grpc", "function")


@pytest.fixture
def ways(live_server: Any, grpc_target: str, token: str) -> dict[str, Any]:  # noqa: F811
    return {
        "rest": SearchRest(live_server.url, token),
        "grpc": SearchGrpc(grpc_target, token),
        "function": SearchFunction(token),
    }


def test_search_then_replay_gives_one_query_per_key_on_every_transport(ways):
    answers = {}
    for name in NAMES:
        first = ways[name].search({"text": "red apple pie"}, f"parity-{name}")
        again = ways[name].search({"text": "red apple pie"}, f"parity-{name}")
        assert (first.code, first.replayed, again.code, again.replayed) == ("OK", False, "OK", True), name
        assert again.data == first.data
        if first.http is not None:
            assert (first.http, again.http) == (201, 200)
        answers[name] = first.data
    rest, grpc = answers["rest"], answers["grpc"]
    assert rest["queryId"] != grpc["queryId"]
    assert {k: v for k, v in rest.items() if k != "queryId"} == {k: v for k, v in grpc.items() if k != "queryId"}
    assert rest["status"] == "RANKED" and len(rest["shards"]) == 8


def test_a_key_first_used_on_one_transport_replays_on_the_other(ways):
    for first in NAMES:
        original = ways[first].search({"text": "pear", "tokens": ["shard4_slow"]}, f"cross-{first}")
        assert (original.code, original.data["status"], original.data["missingShards"]) == ("OK", "PARTIAL", [4])
        rows = all_insert_only_counts()
        for name in NAMES:
            replay = ways[name].search({"text": "pear", "tokens": ["shard4_slow"]}, f"cross-{first}")
            assert (replay.code, replay.replayed, replay.data) == ("OK", True, original.data), (first, name)
            assert ways[name].answer(original.data["queryId"]).data == original.data
        assert all_insert_only_counts() == rows


def test_the_same_key_with_another_search_is_already_exists_everywhere(ways):
    ways["rest"].search({"text": "red apple"}, "conflict")
    rows = all_insert_only_counts()
    codes = {name: ways[name].search({"text": "green pear"}, "conflict").code for name in NAMES}
    assert codes == dict.fromkeys(NAMES, "ALREADY_EXISTS")
    assert all_insert_only_counts() == rows


BAD = {
    "no text": ({"tokens": []}, [("text", "is required")]),
    "blank text": ({"text": ""}, [("text", "is required")]),
    "a text of white space only": ({"text": "  \u3000 "}, [("text", "is required")]),
    "overlong text": ({"text": "a" * 201}, [("text", "must be a string of at most 200 characters")]),
    "a control character": ({"text": "red\x07apple"}, [("text", "must not contain control characters")]),
    "an unknown token": ({"text": "red", "tokens": ["shard3_boom"]}, [("tokens[0]", NOT_A_TOKEN)]),
    "shard 0": ({"text": "red", "tokens": ["shard0_down"]}, [("tokens[0]", NOT_A_TOKEN)]),
    "a shard with a leading zero": ({"text": "red", "tokens": ["shard03_down"]}, [("tokens[0]", NOT_A_TOKEN)]),
    "a shard the query does not fan out to": (
        {"text": "red", "tokens": ["shard2_slow", "shard9_down"]},
        [("tokens[1]", NOT_A_TOKEN)],
    ),
}


def test_a_bad_search_is_invalid_argument_on_every_transport_and_stores_nothing(ways):
    rows = all_insert_only_counts()
    for case, (body, details) in BAD.items():
        for name in NAMES:
            result = ways[name].search(body, f"bad-{name}")
            assert result.code == "INVALID_ARGUMENT", (case, name, result)
            got = [(d["field"], d["issue"]) for d in result.data["details"]]
            assert got == details, (case, name)
    for name in NAMES:
        assert ways[name].search(MALFORMED, f"malformed-{name}").code == "INVALID_ARGUMENT", name
        missing = ways[name].search({"text": "red"}, None)
        assert missing.code == "INVALID_ARGUMENT", name
        assert [(d["field"], d["issue"]) for d in missing.data["details"]] == [
            ("Idempotency-Key", "missing or malformed")
        ]
    assert all_insert_only_counts() == rows


def test_null_tokens_are_refused_as_not_a_list_over_json(ways):
    rows = all_insert_only_counts()
    result = ways["rest"].search({"text": "red", "tokens": None}, "null-tokens")
    assert (result.code, [(d["field"], d["issue"]) for d in result.data["details"]]) == (
        "INVALID_ARGUMENT",
        [("tokens", "must be a list of strings")],
    )
    assert all_insert_only_counts() == rows


def test_an_unknown_query_is_not_found_and_a_missing_token_unauthenticated_everywhere(ways):
    for name in NAMES:
        assert ways[name].answer("00000000-0000-0000-0000-000000000000").code == "NOT_FOUND", name
        assert ways[name].answer("not-a-uuid").code == "NOT_FOUND", name
        assert ways[name].search({"text": "red"}, "no-token", token=None).code == "UNAUTHENTICATED", name
    assert all_insert_only_counts()["query_received.QueryReceived"] == 0


def test_an_empty_query_id_over_grpc_is_not_found_with_a_message_that_says_it_is_empty(ways):
    """Over HTTP an empty id is another route; gRPC's message said ``query  not found``."""
    result = ways["grpc"].answer("")
    assert (result.code, result.data["message"]) == ("NOT_FOUND", "no query has an empty id")
    assert all_insert_only_counts()["query_received.QueryReceived"] == 0


def test_a_stalled_query_answers_the_same_on_every_transport(ways):
    stalled = {name: ways[name].search({"text": "fig", "tokens": ["shard2_down"]}, f"down-{name}") for name in NAMES}
    for result in stalled.values():
        assert (result.code, result.data["status"], result.data["results"], result.data["shards"]) == (
            "OK",
            "STALLED",
            [],
            [],
        )
