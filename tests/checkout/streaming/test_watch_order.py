"""gRPC WatchOrder: the stored checkpoints, then each new one as it commits, once; closes after a terminal state."""

import functools
import threading

import grpc
import pytest
import structlog.testing

from access.tokens import revoke_token
from checkout import services, watching
from checkout.protos import orders_pb2, orders_pb2_grpc
from pipelines.models import CheckpointLog
from pipelines.store import observers
from tests.checkout.conftest import place
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def log_ids(order_id: str) -> list[str]:
    return [
        str(i)
        for i in CheckpointLog.objects.filter(trace_id=order_id).order_by("seq").values_list("checkpoint_id", flat=True)
    ]


def test_a_finished_order_streams_its_checkpoints_and_closes_ok_after_its_terminal_state(demo_data, stub, auth):
    order_id = place("watch-done").view["orderId"]
    events = list(stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=order_id), metadata=auth, timeout=10))
    assert [e.id for e in events] == log_ids(order_id)
    assert events[0].type == "OrderRequest" and events[0].pipeline == "checkout"
    assert events[-1].state == "COMPLETED"
    assert [e.state for e in events].count("COMPLETED") == 1


def test_a_watch_started_mid_chain_sees_every_checkpoint_once(demo_data, stub, auth):
    view = place("watch-mid", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"
    stored = len(view["checkpoints"])
    events: list = []
    arrived = threading.Event()

    def watch() -> None:
        for event in stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=view["orderId"]), metadata=auth, timeout=20):
            events.append(event)
            if len(events) == stored:
                arrived.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert arrived.wait(10)
    assert events[-1].state == "AWAITING_ACCEPTANCE"
    services.accept_ticket(view["kitchenTicketId"])  # the chain resumes to the end
    watcher.join(20)
    assert not watcher.is_alive()
    ids = [e.id for e in events]
    assert ids == log_ids(view["orderId"]) and len(set(ids)) == len(ids) > stored
    assert events[-1].state == "COMPLETED"


def test_a_cancelled_order_closes_after_cancelled(demo_data, stub, auth):
    view = place("watch-cancel", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    services.cancel_order(view["orderId"])
    events = list(stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=view["orderId"]), metadata=auth, timeout=10))
    assert events[-1].state == "CANCELLED"
    assert [e.id for e in events] == log_ids(view["orderId"])


def test_an_unknown_order_is_not_found_and_a_missing_token_unauthenticated(demo_data, stub, auth):
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id="not-an-id"), metadata=auth, timeout=5))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id="not-an-id"), timeout=5))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_cancelled_watch_frees_its_admission_slot_at_once_not_at_its_next_poll(
    demo_data, stub, auth, settings, monkeypatch
):
    settings.TPFGO_WATCH_MAX_STREAMS = 1
    # A poll far longer than the test waits: the slot is free because the call ended, not because the watch polled.
    monkeypatch.setattr(watching, "watch_trace", functools.partial(observers.watch_trace, poll_interval=3600))
    view = place("watch-left", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    watch = orders_pb2.WatchOrderRequest(order_id=view["orderId"])
    call = stub.WatchOrder(watch, metadata=auth, timeout=30)
    assert [next(call).id for _ in view["checkpoints"]] == log_ids(view["orderId"])
    assert watching.gate().active == 1  # the one slot; the watch now waits for the next commit
    call.cancel()
    try:
        wait_for(lambda: watching.gate().active == 0, 10, what="the cancelled watch's slot to be free")
    finally:
        observers.notify()  # wakes the cancelled watch, which then ends
    done = place("watch-next").view["orderId"]
    events = list(stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=done), metadata=auth, timeout=10))
    assert [e.id for e in events] == log_ids(done) and events[-1].state == "COMPLETED"


def test_a_watch_whose_client_stops_reading_is_cancelled_after_the_unread_limit(
    demo_data, stream_server, auth, settings
):
    """Before, a watcher that stopped reading held its server thread and its slot for good: grpcio's send waits for
    room in the client's HTTP/2 window with no timeout, and a completed order's watch never got to its end."""
    settings.TPFGO_STREAM_UNREAD_SECONDS = 1
    settings.TPFGO_WATCH_MAX_STREAMS = 1
    order_id = place("watch-unread").view["orderId"]
    assert len(log_ids(order_id)) > 1
    # A one-byte window (no BDP probing to grow it): the second checkpoint waits for the client to read the first.
    options = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1)]
    channel = grpc.insecure_channel(stream_server, options=options)
    call = orders_pb2_grpc.OrderServiceStub(channel).WatchOrder(
        orders_pb2.WatchOrderRequest(order_id=order_id), metadata=auth
    )
    # merge_contextvars: the request_id a thread has bound, as the project's own processors add it to every line.
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        wait_for(lambda: watching.gate().active == 1, 10, what="the watch to be admitted")
        wait_for(lambda: watching.gate().active == 0, 15, what="the unread watch to be cancelled")
        with pytest.raises(grpc.RpcError) as ended:
            list(call)
        wait_for(lambda: any(line["event"] == "grpc.access" for line in logs), 10, what="the call's access line")
    assert ended.value.code() == grpc.StatusCode.CANCELLED
    unread = [line for line in logs if line["event"] == "rpc.answers_unread"]
    assert [line["route"] for line in unread] == ["/tpfgo.checkout.v1.OrderService/WatchOrder"]
    # The watcher thread's line carries the call's request_id, the one its access line names.
    (access,) = [line for line in logs if line["event"] == "grpc.access"]
    assert access["request_id"] and unread[0].get("request_id") == access["request_id"]
    channel.close()
    events = list(stub_of(stream_server).WatchOrder(orders_pb2.WatchOrderRequest(order_id=order_id), metadata=auth))
    assert [e.id for e in events] == log_ids(order_id)  # the slot is free again


def stub_of(target: str):
    return orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(target))


def test_a_watch_whose_token_is_revoked_ends_unauthenticated_before_the_next_checkpoint(demo_data, stub, auth):
    view = place("watch-revoked", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert view["state"] == "AWAITING_ACCEPTANCE"
    call = stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=view["orderId"]), metadata=auth, timeout=20)
    stored = [next(call) for _ in view["checkpoints"]]  # the watch is live: every stored checkpoint came
    assert revoke_token("stream-client") == 1
    services.accept_ticket(view["kitchenTicketId"])  # the chain resumes to the end: checkpoints the watch would send
    with pytest.raises(grpc.RpcError) as ended:
        sent = next(call)
        call.cancel()
        raise AssertionError(f"sent {sent.type} to a revoked token")  # before the fix: the rest of the chain
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert [e.id for e in stored] == log_ids(view["orderId"])[: len(stored)]
