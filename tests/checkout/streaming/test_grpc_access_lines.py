"""Every gRPC call leaves one ``grpc.access`` line (pipelines/transport/rpc_access.py): its method, the status its
client got, its peer, the messages each way and the ``request_id`` its other lines and its error's
``correlationId`` carry; a stream's when it ends, and a stream its client cancels says CANCELLED, never an error."""

from __future__ import annotations

import functools
import io
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY

from checkout import watching
from checkout.protos import orders_pb2
from pipelines.store import observers
from tests.checkout.conftest import place
from tests.checkout.streaming.conftest import ingest_request
from tests.integration.conftest import wait_for
from tests.tracing import server_spans

pytestmark = pytest.mark.django_db(transaction=True)
ORDERS = "/tpfgo.checkout.v1.OrderService/"


@pytest.fixture
def lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the settings' ``stdout`` handler writes during the test (the server runs in this process)."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "stdout")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    finally:
        handler.setStream(previous or sys.stdout)


def access(lines: Callable[[], list[dict[str, Any]]], method: str) -> list[dict[str, Any]]:
    return [line for line in lines() if line["event"] == "grpc.access" and line["method"] == ORDERS + method]


def requests(route: str, status: str) -> float:
    labels = {"route": ORDERS + route, "status": status, "transport": "grpc"}
    return REGISTRY.get_sample_value("tpfgo_requests_total", labels) or 0.0


def test_a_unary_call_leaves_one_access_line_with_the_request_id_of_its_other_lines_and_its_error(
    demo_data, stub, auth, lines
):
    order = stub.CreateOrder(ingest_request("access-1").order, metadata=[*auth, ("idempotency-key", "access-1")])
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetOrder(orders_pb2.GetOrderRequest(order_id="no-such-order"), metadata=auth)

    (created,) = access(lines, "CreateOrder")
    assert (created["status"], created["messages_in"], created["messages_out"]) == ("OK", 1, 1)
    assert created["level"] == "info" and created["peer"].startswith("ipv4:127.0.0.1:")
    assert created["user_agent"].startswith("grpc-python/") and created["duration_ms"] > 0
    steps = [line for line in lines() if line["event"] == "step.completed" and line["trace_id"] == order.order_id]
    assert len(steps) > 1 and {line["request_id"] for line in steps} == {created["request_id"]}
    (refused,) = access(lines, "GetOrder")
    info = error_details_pb2.ErrorInfo()
    assert rpc_status.from_call(missing.value).details[0].Unpack(info)
    assert (refused["status"], refused["messages_out"]) == ("NOT_FOUND", 0)
    assert refused["request_id"] == info.metadata["correlationId"] != created["request_id"]


def unmatched() -> dict[str, float]:
    """The gRPC ``tpfgo_requests_total`` series of unknown methods: their count, and the samples of every other route
    whose name is no method of the server's services (REST's unmatched paths, counted under the same route by other
    tests of the process, are not this test's)."""
    found: dict[str, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            route, transport = sample.labels.get("route", ""), sample.labels.get("transport")
            if (
                sample.name == "tpfgo_requests_total"
                and transport == "grpc"
                and (route == "unmatched" or "NoSuch" in route)
            ):
                found[f"{route} {sample.labels['status']} {sample.labels['transport']}"] = sample.value
    return found


def test_a_method_the_server_does_not_know_leaves_an_unimplemented_line_and_is_counted_unmatched(
    demo_data, grpc_channel, lines
):
    """Before, it was in no request metric; counted under its name, every name a client sent would add a series."""
    before = unmatched().get("unmatched UNIMPLEMENTED grpc", 0.0)
    codes = []
    for method in (ORDERS + "NoSuchMethod", "/no.such.Service/NoSuchCall", ORDERS + "NoSuchMethod"):
        with pytest.raises(grpc.RpcError) as unknown:
            grpc_channel.unary_unary(method)(b"")
        codes.append(unknown.value.code())
    assert codes == [grpc.StatusCode.UNIMPLEMENTED] * 3
    named = access(lines, "NoSuchMethod")
    assert [line["status"] for line in named] == ["UNIMPLEMENTED"] * 2 and all(line["request_id"] for line in named)
    (other,) = [line for line in lines() if line["event"] == "grpc.access" and line["method"].startswith("/no.such")]
    assert other["status"] == "UNIMPLEMENTED" and other["user_agent"].startswith("grpc-python/")
    assert unmatched() == {"unmatched UNIMPLEMENTED grpc": before + 3}


def test_a_stream_leaves_one_line_when_it_ends_with_the_messages_each_way(demo_data, stub, auth, lines):
    answers = list(stub.IngestOrders(iter([ingest_request(f"in-{n}") for n in range(3)]), metadata=auth))
    order_id = place("watched").view["orderId"]
    events = list(stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=order_id), metadata=auth, timeout=10))

    (ingest,) = access(lines, "IngestOrders")
    assert len(answers) == 3 and (ingest["status"], ingest["messages_in"], ingest["messages_out"]) == ("OK", 3, 3)
    (watch,) = access(lines, "WatchOrder")
    assert (watch["status"], watch["messages_in"], watch["messages_out"]) == ("OK", 1, len(events))


def test_a_watch_its_client_cancels_is_logged_and_counted_cancelled_not_as_an_error(
    demo_data, stub, auth, lines, monkeypatch
):
    monkeypatch.setattr(watching, "watch_trace", functools.partial(observers.watch_trace, poll_interval=3600))
    view = place("left", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    before = requests("WatchOrder", "CANCELLED"), requests("WatchOrder", "OK")
    call = stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=view["orderId"]), metadata=auth, timeout=30)
    taken = [next(call) for _ in view["checkpoints"]]  # every stored one; the watch now waits for a commit
    call.cancel()
    observers.notify()  # the watch wakes, finds its call inactive and ends
    wait_for(lambda: access(lines, "WatchOrder"), 10, what="the cancelled watch's access line")

    (line,) = access(lines, "WatchOrder")
    assert (line["status"], line["level"], line["messages_out"]) == ("CANCELLED", "info", len(taken))
    assert [entry for entry in lines() if entry["level"] in ("warning", "error")] == []
    assert (requests("WatchOrder", "CANCELLED"), requests("WatchOrder", "OK")) == (before[0] + 1, before[1])


def test_an_ingest_stream_its_client_cancels_while_the_server_reads_is_never_an_internal_error(
    demo_data, stub, auth, lines
):
    internal = requests("IngestOrders", "INTERNAL")
    for round in range(3):  # where the cancel meets the server's read is a race: each round is one more chance
        hold = threading.Event()

        def sent(round: int = round, hold: threading.Event = hold) -> Iterator[Any]:
            yield from (ingest_request(f"cancel-{round}-{n}") for n in range(2))
            hold.wait(10)

        call = stub.IngestOrders(sent(), metadata=auth)
        assert [next(call).state for _ in range(2)] == ["COMPLETED", "COMPLETED"]
        call.cancel()  # the server waits for a third message
        hold.set()
        wait_for(lambda n=round: len(access(lines, "IngestOrders")) == n + 1, 10, what="the stream's access line")

    ended = access(lines, "IngestOrders")
    # The server reads a cancel that came while it waited as the stream's end (OK) or as the cancel (CANCELLED).
    assert {line["status"] for line in ended} <= {"OK", "CANCELLED"}
    assert [(line["messages_in"], line["messages_out"]) for line in ended] == [(2, 2)] * 3
    assert [line["event"] for line in lines() if line["level"] == "error"] == []
    assert requests("IngestOrders", "INTERNAL") == internal


def test_with_tracing_on_the_access_line_names_the_calls_server_span(demo_data, stub, auth, lines, spans):
    stub.GetOrder(orders_pb2.GetOrderRequest(order_id=place("traced").view["orderId"]), metadata=auth)
    (line,) = access(lines, "GetOrder")
    (span,) = [s for s in server_spans(spans) if s.name == ORDERS + "GetOrder"]
    assert (line["trace_id"], line["span_id"]) == (
        format(span.context.trace_id, "032x"),
        format(span.context.span_id, "016x"),
    )
