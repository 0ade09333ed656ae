"""Ingest micro-batches: the batched path's answers and rows are the single path's, line by line, in order."""

import contextlib
import dataclasses
import datetime
import json
import socket
import time

import pytest
import time_machine
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from checkout import demo, ingest
from checkout.composition import COMPOSITION
from checkout.consumer_verified.models import ConsumerVerified
from checkout.order_request.models import OrderRequest
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.contracts.declarations import aux, primary
from pipelines.engine.batch import BatchEngine
from pipelines.engine.registry import composition
from pipelines.models import CheckpointLog, ErrorSinkEntry, ParkedItem
from pipelines.recovery import backlog, pausing, sweeper
from pipelines.store import observers
from tests.checkout.api.test_internal_error_scrubbed import parking_table_gone
from tests.checkout.conftest import order_body
from tests.checkout.erasure_helpers import captured_logs
from tests.checkout.facts import completed_order_rows
from tests.checkout.streaming.conftest import line, ndjson, post
from tests.checkout.test_retention import OLD, only_orders
from tests.conftest import all_insert_only_counts
from tests.lane import branches as lane_branches
from tests.snapshots import snapshot, wipe

pytestmark = pytest.mark.django_db(transaction=True)


def lines(*bodies):
    return [ingest.Line(n, key, body) for n, (body, key) in enumerate(bodies, 1)]


MIXED = lines(
    (order_body(), "mb-1"),
    (order_body(items=[]), "mb-empty"),  # invalid body: INVALID_ARGUMENT, nothing stored
    (order_body(), None),  # no key: INVALID_ARGUMENT
    (order_body(consumer="bob"), "mb-2"),
    (order_body(restaurant="nowhere"), "mb-nowhere"),  # unknown restaurant: INVALID_ARGUMENT
    (order_body(paymentToken="tok_declined"), "mb-declined"),  # placed, then rejected by the payment step
    (order_body(), "bad key with spaces"),
    (order_body(consumer="carol"), "mb-3"),
)


def codes(answers):
    return [(a["idempotencyKey"], a.get("state"), a.get("error", {}).get("code")) for a in answers]


def test_bad_lines_in_the_middle_of_a_micro_batch_are_answered_alone_and_store_nothing(demo_data):
    answers = ingest.place_many(MIXED)

    assert codes(answers) == [
        ("mb-1", "COMPLETED", None),
        ("mb-empty", None, "INVALID_ARGUMENT"),
        (None, None, "INVALID_ARGUMENT"),
        ("mb-2", "COMPLETED", None),
        ("mb-nowhere", None, "INVALID_ARGUMENT"),
        ("mb-declined", "REJECTED", None),
        ("bad key with spaces", None, "INVALID_ARGUMENT"),
        ("mb-3", "REJECTED", None),
    ]
    stored = set(OrderRequest.objects.values_list("request_id", flat=True))
    assert stored == {"mb-1", "mb-2", "mb-declined", "mb-3"}
    assert TerminalOrderState.objects.count() == 2  # the two completed orders (a rejection is no terminal state)
    assert ErrorSinkEntry.objects.count() == ParkedItem.objects.count() == 0


def test_a_micro_batch_answers_and_stores_exactly_what_the_single_path_does(demo_data):
    single = [ingest.place(each) for each in MIXED]
    expected = snapshot()
    wipe()

    batched = ingest.place_many(MIXED)

    assert batched == single
    assert snapshot() == expected


def test_replayed_and_repeated_lines_are_answered_like_the_single_path(demo_data):
    first = ingest.place(ingest.Line(1, "rp-1", order_body()))
    before = all_insert_only_counts()
    again = lines(
        (order_body(), "rp-1"),  # stored before: a replay
        (order_body(consumer="bob"), "rp-1"),  # the stored key with another order
        (order_body(), "rp-2"),
        (order_body(), "rp-2"),  # the same line twice in one micro-batch: the second replays the first
        (order_body(consumer="bob"), "rp-2"),  # and once more with another order
    )

    answers = ingest.place_many(again)

    assert answers[0] == first
    assert answers[3] == answers[2] and answers[2]["state"] == "COMPLETED"
    assert [a.get("error", {}).get("code") for a in answers] == [None, "ALREADY_EXISTS", None, None, "ALREADY_EXISTS"]
    assert answers[1]["error"]["message"].startswith("this idempotencyKey was already used with a different request;")
    assert OrderRequest.objects.count() == 2
    # Only rp-2 was new: its rows and nothing else.
    assert CheckpointLog.objects.count() == before["pipelines.CheckpointLog"] + completed_order_rows()
    assert [ingest.place(each) for each in again] == answers  # one by one, the same answers again


def test_a_purged_key_in_a_micro_batch_is_answered_like_the_single_path_and_starts_nothing():
    demo.load()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        ingest.place(ingest.Line(1, "pg-gone", order_body()))
    assert only_orders().items == 1
    before = all_insert_only_counts()
    batch = lines((order_body(), "pg-1"), (order_body(), "pg-gone"), (order_body(), "pg-2"))

    answers = ingest.place_many(batch)

    assert codes(answers) == [("pg-1", "COMPLETED", None), ("pg-gone", None, "PURGED"), ("pg-2", "COMPLETED", None)]
    assert answers[1] == ingest.place(batch[1])
    assert answers[1]["error"]["message"] == "the order of this idempotencyKey was purged by the retention policy"
    assert OrderRequest.objects.count() == 2
    assert CheckpointLog.objects.count() == before["pipelines.CheckpointLog"] + 2 * completed_order_rows()


@override_settings(TPFGO_BACKLOG_BOUND=1, TPFGO_BACKLOG_CHECK_SECONDS=3)
def test_at_the_backlog_bound_new_lines_are_refused_the_single_paths_way_and_stored_ones_answered(
    demo_data, monkeypatch
):
    pausing.pause(composition(), "payment-capture", "payment_outcome", actor="ops", reason="gateway down")
    held = ingest.place(ingest.Line(1, "bb-held", order_body()))
    assert held["state"] == "DELIVERED"  # held at the paused capture: the backlog is at its bound
    backlog.forget()
    before = all_insert_only_counts()
    alone = []
    single_place = ingest.place
    monkeypatch.setattr(ingest, "place", lambda line: alone.append(line.key) or single_place(line))
    answers = ingest.place_many(lines((order_body(), "bb-1"), (order_body(), "bb-held"), (order_body(), "bb-2")))

    assert codes(answers) == [
        ("bb-1", None, "RESOURCE_EXHAUSTED"),
        ("bb-held", "DELIVERED", None),
        ("bb-2", None, "RESOURCE_EXHAUSTED"),
    ]
    assert "backlog bound (1)" in answers[0]["error"]["message"]
    assert alone == ["bb-1", "bb-2"]  # refused by the batch, decided again by the single path
    assert all_insert_only_counts() == before


def test_a_micro_batch_that_fails_as_a_whole_is_placed_again_line_by_line_and_each_line_answers_alone(demo_data):
    sent = lines(
        (order_body(), "wb-1"),
        (order_body(items=[]), "wb-bad"),
        (order_body(paymentToken="tok_down"), "wb-down"),  # the gateway simulator is down for this one
        (order_body(), "wb-2"),
    )
    # Parking wb-down's failure fails with the database's own error: the batch fails as a whole, after its first
    # steps stored the three orders, and alone each line that reads parked items fails again and says so.
    with captured_logs() as logged, parking_table_gone():
        answers = ingest.place_many(sent)

    assert codes(answers) == [
        ("wb-1", None, "INTERNAL"),
        ("wb-bad", None, "INVALID_ARGUMENT"),
        ("wb-down", None, "INTERNAL"),
        ("wb-2", None, "INTERNAL"),
    ]
    assert [a["error"]["message"] for a in answers if a["error"]["code"] == "INTERNAL"] == [
        "line 1: internal error",
        "line 3: internal error",
        "line 4: internal error",
    ]
    assert events(logged(), "ingest.batch_failed") == [{"lines": 4, "first_line": 1}]
    assert [e["line"] for e in events(logged(), "ingest.line_failed")] == [1, 3, 4]
    assert OrderRequest.objects.count() == 3
    assert ParkedItem.objects.count() == 0 and ErrorSinkEntry.objects.count() == 1  # wb-down's attempt, unparked

    again = ingest.place_many(sent)  # the table is back: the same lines answered, nothing placed twice

    assert codes(again) == [
        ("wb-1", "APPROVAL_PENDING", None),
        ("wb-bad", None, "INVALID_ARGUMENT"),
        ("wb-down", "APPROVAL_PENDING", None),
        ("wb-2", "APPROVAL_PENDING", None),
    ]
    assert OrderRequest.objects.count() == 3


def test_a_stream_places_its_lines_in_micro_batches_and_answers_in_input_order(demo_data, token):
    keys = [f"st-{n}" for n in range(40)]
    body = [line(key, consumer="bob" if n % 3 else "alice") for n, key in enumerate(keys)]
    body[17] = b"{broken\n"  # a line that cannot be read never reaches a batch
    body[23] = line("st-23", items=[])  # a line the batch refuses
    untap = observers.tap("checkout", "order_request", lambda event: time.sleep(0.02))  # lines queue meanwhile
    try:
        with captured_logs() as logged:
            answers = post(ndjson(body), token)
    finally:
        untap()

    assert [a["idempotencyKey"] for a in answers] == [None if n == 17 else key for n, key in enumerate(keys)]
    assert [n for n, a in enumerate(answers) if "error" in a] == [17, 23]
    assert {a["state"] for n, a in enumerate(answers) if n not in (17, 23)} == {"COMPLETED"}
    sizes = [e["items"] for e in events(logged(), "batch.step") if e["step"] == "order_request"]
    assert sum(sizes) == 38 and max(sizes) > 1 and max(sizes) <= ingest.micro_batch()  # st-23 never ran a step
    assert OrderRequest.objects.count() == TerminalOrderState.objects.count() == 38


def test_with_a_batch_of_one_each_line_goes_alone_through_the_single_path(demo_data, token, settings):
    settings.TPFGO_INGEST_BATCH = 1
    assert ingest.stage().fn is ingest.place and ingest.stage().batch == 1
    with captured_logs() as logged:
        answers = post(ndjson([line("one-1"), line("one-2")]), token)
    assert [a["state"] for a in answers] == ["COMPLETED", "COMPLETED"]
    assert events(logged(), "batch.step") == []  # the batched path ran no step


def with_aux_beside_a_primary(name):
    """The shipped composition, pipeline ``name``'s last step writing an aux branch beside its primary."""
    spec = COMPOSITION.pipeline(name)
    step = spec.steps[-1]
    extra = aux("extra", step.model, lambda ctx: None, optional=True)
    branched = dataclasses.replace(step, branches=(primary(step.name, step.model), extra))
    pipeline = dataclasses.replace(spec, steps=(*spec.steps[:-1], branched))
    pipelines = tuple(pipeline if p.name == name else p for p in COMPOSITION.pipelines)
    return dataclasses.replace(COMPOSITION, pipelines=pipelines)


def test_where_the_batched_path_does_not_apply_the_stream_places_each_line_alone(monkeypatch):
    assert ingest.batched_path_applies(COMPOSITION)
    # A new order reaches order-finalization (through six hand-offs), never the ops' remediation pipelines.
    assert not ingest.batched_path_applies(with_aux_beside_a_primary("order-finalization"))
    assert ingest.batched_path_applies(with_aux_beside_a_primary("ops-cancel"))
    # The lane's branches composition writes aux beside a primary: the batched path refuses it, the check agrees.
    assert not ingest.batched_path_applies(lane_branches.COMPOSITION, "ingest")
    with pytest.raises(ValueError, match="aux branches written beside a primary"):
        BatchEngine(lane_branches.COMPOSITION).start_many("ingest", [({"text": "a b"}, "aux-1")])
    assert (ingest.stage().fn, ingest.stage().batch) == (ingest.place_many, ingest.micro_batch())
    monkeypatch.setattr(ingest, "composition", lambda: with_aux_beside_a_primary("order-finalization"))
    assert (ingest.stage().fn, ingest.stage().batch) == (ingest.place, 1)


def test_with_pipeline_atomicity_each_line_goes_alone_and_a_failing_pipeline_stores_none_of_its_steps(
    demo_data, token, settings
):
    settings.TPFGO_ATOMICITY = "pipeline"
    assert (ingest.stage().fn, ingest.stage().batch) == (ingest.place, 1)
    answers = post(ndjson([line("whole-1"), line("whole-down", paymentToken="tok_down"), line("whole-2")]), token)

    # The gateway is down: consumer-validation fails at its second step and rolls back whole, its first step
    # (ConsumerVerified) included; the batched path, one transaction per step, would have kept that one.
    assert codes(answers) == [
        ("whole-1", "COMPLETED", None),
        ("whole-down", "APPROVAL_PENDING", None),
        ("whole-2", "COMPLETED", None),
    ]
    down = OrderRequest.objects.get(idempotency_key="whole-down")
    assert ConsumerVerified.objects.filter(order_id=down.order_id).count() == 0
    assert ConsumerVerified.objects.count() == 2
    assert CheckpointLog.objects.filter(trace_id=down.trace_id).count() == 3  # checkout's three steps
    assert ParkedItem.objects.count() == 1


def test_a_micro_batch_cut_by_a_database_outage_answers_its_lines_unavailable_and_sent_again_places_each_once(
    demo_data,
):
    if connection.vendor != "postgresql":
        pytest.skip("the connection is cut at the PostgreSQL server")
    sent = lines((order_body(), "cut-1"), (order_body(items=[]), "cut-bad"), (order_body(), "cut-2"))
    with captured_logs() as logged, database_gone_at("consumer-validation", "consumer_verified"):
        answers = ingest.place_many(sent)

    # The checkout pipeline's steps had committed; from the next step on the server cannot be reached.
    assert codes(answers) == [
        ("cut-1", None, "UNAVAILABLE"),
        ("cut-bad", None, "INVALID_ARGUMENT"),
        ("cut-2", None, "UNAVAILABLE"),
    ]
    assert answers[2]["error"]["message"].startswith("line 3: the database cannot be reached")
    assert events(logged(), "ingest.batch_failed") == [{"lines": 3, "first_line": 1}]
    assert [e["line"] for e in events(logged(), "ingest.database_unavailable")] == [1, 3]
    assert OrderRequest.objects.count() == 2 and ConsumerVerified.objects.count() == 0
    stored = all_insert_only_counts()

    again = ingest.place_many(sent)  # the database is back: the same lines sent again

    assert codes(again) == [
        ("cut-1", "APPROVAL_PENDING", None),
        ("cut-bad", None, "INVALID_ARGUMENT"),
        ("cut-2", "APPROVAL_PENDING", None),
    ]
    assert all_insert_only_counts() == stored  # each order placed once; the sweeper takes up the rest


def test_a_line_the_outage_cut_sent_again_answers_as_its_request_sent_again_does_and_the_sweeper_completes_both(
    demo_data, token, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("the connection is cut at the PostgreSQL server")
    sent = lines((order_body(), "both-line"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    def request():
        return api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="both-request")

    with database_gone_at("consumer-validation", "consumer_verified"):
        assert codes(ingest.place_many(sent)) == [("both-line", None, "UNAVAILABLE")]
    with database_gone_at("consumer-validation", "consumer_verified"):
        assert request().status_code == 503
    stored = all_insert_only_counts()
    assert OrderRequest.objects.count() == 2 and ConsumerVerified.objects.count() == 0

    # Sent again, either is a replay: it answers the order as stored and runs none of the chain the outage cut.
    replayed = request()
    assert (replayed.status_code, replayed["Idempotent-Replayed"], replayed.json()["state"]) == (
        200,
        "true",
        "APPROVAL_PENDING",
    )
    assert codes(ingest.place_many(sent)) == [("both-line", "APPROVAL_PENDING", None)]
    assert all_insert_only_counts() == stored

    settings.TPFGO_RESUME_ENQUEUE = ""  # the sweeper resumes here, not through the worker
    report = sweeper.sweep(now=timezone.now() + datetime.timedelta(seconds=settings.TPFGO_SWEEP_GRACE_SECONDS + 1))

    assert sorted(trace for trace, _ in report.resumes) == sorted(str(r.order_id) for r in OrderRequest.objects.all())
    assert codes(ingest.place_many(sent)) == [("both-line", "COMPLETED", None)]
    assert request().json()["state"] == "COMPLETED"
    assert TerminalOrderState.objects.count() == 2


@contextlib.contextmanager
def database_gone_at(pipeline, step):
    """From ``pipeline``/``step``'s first run on, the test's database connection is cut at the server and every
    reconnect is refused (a port nothing listens on); on leaving, the database is back."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    other.ensure_connection()
    connection.ensure_connection()  # closed by an earlier cut's exit
    backend = connection.connection.info.backend_pid
    port = connection.settings_dict["PORT"]

    def cut(event):
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [backend])
        connection.settings_dict["PORT"] = str(free_port())

    untap = observers.tap(pipeline, step, cut)
    try:
        yield
    finally:
        untap()
        other.close()
        connection.settings_dict["PORT"] = port
        connection.close()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def events(text, name):
    """The fields of each log line named ``name`` (without the logger's own)."""
    found = [json.loads(raw) for raw in text.splitlines() if f'"event": "{name}"' in raw]
    return [{k: v for k, v in e.items() if k not in COMMON} for e in found]


COMMON = {"event", "timestamp", "logger", "level", "exception"}
