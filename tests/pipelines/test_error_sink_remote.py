"""The remote error sink: forwarding over REST or gRPC to a central sink (this project serves one), idempotent by
entry id, and a forwarding failure that falls back to the local sinks and loses nothing."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
import structlog.testing
from django.utils import timezone

from pipelines.contracts.status import InvalidArgument
from pipelines.failures import sinks
from pipelines.models import ErrorSinkEntry
from pipelines.protos import error_sink_pb2_grpc
from pipelines.transport import sink_wire
from tests.checkout.api import conftest as api_fixtures
from tests.lane import composition as lane

URL = "/api/v1/error-sink/entries"
# The API tests' fixtures: a token, an authenticated client, a real gRPC server on the test database.
token, api, grpc_target = api_fixtures.token, api_fixtures.api, api_fixtures.grpc_target


def entry(**changes) -> sinks.SinkEntry:
    fields = {
        "id": uuid.uuid4(),
        "pipeline": "ingest",
        "step": "index",
        "item_type": "TokenIndexed",
        "item_id": uuid.uuid4(),
        "trace_id": uuid.uuid4(),
        "error_class": "builtins.RuntimeError",
        "error_code": "UNEXPECTED",
        "retryable": True,
        "message": "boom",
        "traceback": "Traceback…",
        "payload": {"input": [1, 2]},
        "attempt": 1,
        "created_at": timezone.now(),
        "source": "edge-1",
    }
    return sinks.SinkEntry(**{**fields, **changes})


@pytest.fixture
def remote(settings):
    """This process forwards to a central sink; the configured sinks are rebuilt for the test."""

    def use(url: str, key: str) -> None:
        settings.TPFGO_ERROR_SINKS = ["pipelines.failures.sinks.RemoteSink"]
        settings.TPFGO_ERROR_SINK_URL = url
        settings.TPFGO_ERROR_SINK_TOKEN = key
        settings.TPFGO_ERROR_SINK_SOURCE = "edge-1"
        settings.TPFGO_ERROR_SINK_TIMEOUT = 2.0
        sinks.configured.cache_clear()

    yield use
    sinks.configured.cache_clear()
    lane.FAILURES.clear()


@pytest.mark.django_db
def test_the_rest_route_stores_an_entry_once_and_answers_200_on_a_replay(api):
    body = entry().as_json()
    first = api.post(URL, body, format="json")
    again = api.post(URL, body, format="json")
    assert (first.status_code, first.json()) == (201, {"id": body["id"], "created": True})
    assert (again.status_code, again.json()["created"]) == (200, False)
    stored = ErrorSinkEntry.objects.get()
    assert (stored.source, stored.payload, stored.step) == ("edge-1", {"input": [1, 2]}, "index")


@pytest.mark.django_db
def test_the_rest_route_wants_a_token_first_and_a_valid_entry(api, client):
    assert client.post(URL, {"id": "nope"}, content_type="application/json").status_code == 401
    bad = api.post(URL, {**entry().as_json(), "trace_id": "nope", "attempt": 0, "color": "red"}, format="json")
    assert bad.status_code == 400
    fields = sorted(d["field"] for d in bad.json()["error"]["details"])
    assert fields == ["attempt", "color", "trace_id"]
    assert ErrorSinkEntry.objects.count() == 0


def test_the_grpc_service_records_once_behind_the_token(grpc_target, token):
    stub = error_sink_pb2_grpc.ErrorSinkServiceStub(grpc.insecure_channel(grpc_target))
    message = entry().as_message()
    auth = (("authorization", f"Token {token}"),)
    assert stub.Record(message, metadata=auth, timeout=5).created is True
    assert stub.Record(message, metadata=auth, timeout=5).created is False
    with pytest.raises(grpc.RpcError) as refused:
        stub.Record(message, timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    message.trace_id = "nope"
    message.id = str(uuid.uuid4())
    with pytest.raises(grpc.RpcError) as invalid:
        stub.Record(message, metadata=auth, timeout=5)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ErrorSinkEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_forks_entry_keeps_its_branch_on_both_routes_and_a_main_entry_names_none(api, grpc_target, token):
    fork = str(uuid.uuid4())
    main = entry().as_json()
    assert "branch" not in main  # a central sink that does not know the field takes every main-branch entry
    assert api.post(URL, main, format="json").status_code == 201
    assert api.post(URL, entry(branch=fork).as_json(), format="json").status_code == 201
    stub = error_sink_pb2_grpc.ErrorSinkServiceStub(grpc.insecure_channel(grpc_target))
    auth = (("authorization", f"Token {token}"),)
    assert stub.Record(entry(branch=fork).as_message(), metadata=auth, timeout=5).created is True
    assert stub.Record(entry().as_message(), metadata=auth, timeout=5).created is True

    stored = ErrorSinkEntry.objects.order_by("created_at", "id").values_list("branch", flat=True)
    assert sorted(stored) == sorted(["main", fork, fork, "main"])


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_failed_step_is_forwarded_to_the_central_sink(transport, remote, live_server, grpc_target, token):
    remote(live_server.url if transport == "rest" else f"grpc://{grpc_target}", token)
    lane.FAILURES["index"] = "bug"

    from pipelines.engine.runner import Engine

    Engine(lane.COMPOSITION).start("ingest", {"text": "a"}, "doc-1")

    stored = ErrorSinkEntry.objects.get()  # the central sink shares this test database
    assert (stored.source, stored.step, stored.message) == ("edge-1", "index", "index exploded")


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "grpc://127.0.0.1:9", ""])
def test_a_forwarding_failure_falls_back_to_the_local_sinks(url, remote, capfd):
    remote(url, "any")
    lane.FAILURES["index"] = "bug"

    from pipelines.engine.runner import Engine

    Engine(lane.COMPOSITION).start("ingest", {"text": "a"}, "doc-1")

    stored = ErrorSinkEntry.objects.get()
    assert (stored.source, stored.step) == ("local", "index")
    lines = [json.loads(x) for x in capfd.readouterr().err.splitlines() if '"error_sink.entry"' in x]
    assert [line["id"] for line in lines] == [str(stored.id)]


@pytest.mark.django_db
def test_an_entry_without_payload_or_traceback_is_stored_with_an_empty_payload(api):
    body = {k: v for k, v in entry().as_json().items() if k not in ("payload", "traceback", "source")}
    assert api.post(URL, body, format="json").status_code == 201
    stored = ErrorSinkEntry.objects.get()
    assert (stored.payload, stored.traceback, stored.source) == ({}, "", "remote")


@pytest.mark.django_db
def test_text_no_database_can_store_is_refused_not_a_server_error(api):
    body = {
        **entry().as_json(),
        "message": "nul \x00 here",
        "pipeline": "surrogate \ud810",
        "created_at": "0001-01-01T00:00:00+18:00",
    }
    answer = api.post(URL, json.dumps(body, ensure_ascii=True), content_type="application/json")
    assert answer.status_code == 400
    assert sorted(d["field"] for d in answer.json()["error"]["details"]) == ["created_at", "message", "pipeline"]


@pytest.mark.django_db
def test_a_nul_in_a_payload_string_or_key_is_refused_and_text_that_only_names_one_is_stored_as_given(api):
    for payload in ({"input": ["a\x00b"]}, {"in\x00put": 1}):
        answer = api.post(URL, json.dumps({**entry().as_json(), "payload": payload}), content_type="application/json")
        assert answer.status_code == 400
        assert [d["field"] for d in answer.json()["error"]["details"]] == ["payload"]
    assert ErrorSinkEntry.objects.count() == 0

    named = "the body held \\u0000 at byte 7"  # a JSON parser's message about a NUL: no NUL in it
    body = {**entry().as_json(), "message": named, "payload": {"input": named}}
    assert api.post(URL, body, format="json").status_code == 201
    stored = ErrorSinkEntry.objects.get()
    assert (stored.message, stored.payload) == (named, {"input": named})


@pytest.mark.django_db
def test_an_attempt_beyond_what_the_database_stores_is_refused_not_a_server_error(api):
    for attempt, status in ((2**31, 400), (4535047050, 400), (2**31 - 1, 201)):
        answer = api.post(URL, {**entry().as_json(), "attempt": attempt}, format="json")
        assert answer.status_code == status, (attempt, answer.content)
        if status == 400:
            assert [d["field"] for d in answer.json()["error"]["details"]] == ["attempt"]
            assert not ErrorSinkEntry.objects.exists()
    assert ErrorSinkEntry.objects.get().attempt == 2**31 - 1


@pytest.mark.django_db
@pytest.mark.parametrize("attempt", [2**31, 70368744177663])
def test_an_attempt_beyond_the_column_is_invalid_argument_on_both_backends(api, attempt):
    bad = api.post(URL, {**entry().as_json(), "attempt": attempt}, format="json")
    assert bad.status_code == 400, bad.content
    assert [(d["field"], d["issue"]) for d in bad.json()["error"]["details"]] == [
        ("attempt", f"must be an integer from 1 to {2**31 - 1}")
    ]
    assert ErrorSinkEntry.objects.count() == 0


@pytest.mark.django_db
def test_a_payload_nested_too_deep_is_invalid_argument_on_both_routes(api):
    deep: object = []
    for _ in range(40):
        deep = [deep]
    bad = api.post(URL, {**entry().as_json(), "payload": deep}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == [{"field": "body", "issue": "nested deeper than 16 levels"}]
    message = entry().as_message()
    message.payload_json = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InvalidArgument) as refused:
        sink_wire.from_message(message)
    assert [(d.field, d.issue) for d in refused.value.details] == [("payload_json", "nested deeper than 16 levels")]
    assert ErrorSinkEntry.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"payload": "1e400"}, ["body"]),  # the raw JSON number: a float beyond range, not JSON
        ({"traceback": "false"}, ["traceback"]),
        ({"source": "[]"}, ["source"]),
        ({"id": '"+' + "a" * 31 + '"'}, ["id"]),
        ({"item_id": '"{12345678-1234-1234-1234-123456789012}"'}, ["item_id"]),
        ({"trace_id": '"1234-5678-1234-1234-1234-123456789012"'}, ["trace_id"]),
        ({"branch": '"fork-1"'}, ["branch"]),
        ({"branch": "7"}, ["branch"]),
        ({"branch": "false"}, ["branch"]),
    ],
)
def test_an_entry_the_sink_would_store_changed_is_invalid_argument(api, change, fields):
    body = entry().as_json()
    raw = json.dumps({k: v for k, v in body.items() if k not in change})[:-1]
    raw += "".join(f', "{k}": {v}' for k, v in change.items()) + "}"
    answer = api.post(URL, raw, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert [d["field"] for d in answer.json()["error"]["details"]] == fields
    assert ErrorSinkEntry.objects.count() == 0


@pytest.mark.django_db
def test_a_forwarding_failure_logs_the_sinks_url_without_its_password(remote):
    remote("http://edge:s3cret@127.0.0.1:9", "any")
    lane.FAILURES["index"] = "bug"

    from pipelines.engine.runner import Engine

    with structlog.testing.capture_logs() as logs:
        Engine(lane.COMPOSITION).start("ingest", {"text": "a"}, "doc-1")

    (failed,) = [line for line in logs if line["event"] == "error_sink.forward_failed"]
    assert failed["url"] == "http://edge:**@127.0.0.1:9/"  # before: the password, in every failure's line
    assert "s3cret" not in json.dumps(logs, default=str)
