"""gRPC IngestOrders (bidirectional): answers in request order, token first, admission with RetryInfo, reject."""

import queue
import threading
import time

import grpc
import pytest
from django.contrib.auth import get_user_model
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from checkout import ingest
from checkout.order_request.models import OrderRequest
from checkout.protos import orders_pb2, orders_pb2_grpc
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.store import observers
from tests.checkout.streaming.conftest import ingest_request
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db(transaction=True)


def answers(responses) -> list[tuple]:
    return [
        (
            r.idempotency_key if r.HasField("idempotency_key") else None,
            r.state if r.HasField("state") else None,
            r.error.code if r.HasField("error") else None,
        )
        for r in responses
    ]


def retry_delay(error: grpc.RpcError) -> float:
    status = rpc_status.from_call(error)
    info = error_details_pb2.RetryInfo()
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
            return info.retry_delay.ToNanoseconds() / 1e9
    raise AssertionError("no RetryInfo")


def test_every_request_gets_its_answer_in_order_and_a_bad_one_does_not_stop_the_stream(demo_data, stub, auth):
    mismatched = ingest_request("outer")
    mismatched.order.idempotency_key = "inner"
    requests = [ingest_request("g-1"), mismatched, ingest_request("g-2", restaurant="nowhere"), ingest_request("g-3")]
    result = answers(stub.IngestOrders(iter(requests), metadata=auth))
    assert result == [
        ("g-1", "COMPLETED", None),
        ("outer", None, "INVALID_ARGUMENT"),
        ("g-2", None, "INVALID_ARGUMENT"),
        ("g-3", "COMPLETED", None),
    ]
    assert OrderRequest.objects.count() == TerminalOrderState.objects.count() == 2


def test_a_message_whose_order_names_another_key_is_refused_naming_both_fields(demo_data, stub, auth):
    """The refusal said 'given in the field idempotency_key and in idempotency_key': one name for two fields."""
    mismatched = ingest_request("outer")
    mismatched.order.idempotency_key = "inner"
    (answer,) = stub.IngestOrders(iter([mismatched]), metadata=auth)
    assert (answer.idempotency_key, answer.error.code, answer.error.message) == (
        "outer",
        "INVALID_ARGUMENT",
        "message 1: the idempotency key was given in the field order.idempotency_key and in idempotency_key "
        "with different values",
    )
    assert OrderRequest.objects.count() == 0


def test_the_same_stream_on_grpc_and_ndjson_gives_the_same_answers(demo_data, stub, auth, token):
    from django.test import Client

    from tests.checkout.streaming.conftest import line

    grpc_answers = answers(stub.IngestOrders(iter([ingest_request("p-1"), ingest_request("p-2")]), metadata=auth))
    body = line("p-1") + line("p-2")
    response = Client().post(
        "/api/v1/orders/ingest", body, content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Token {token}"
    )
    import json

    rest = [json.loads(raw) for raw in b"".join(response.streaming_content).splitlines()]
    assert [(a["idempotencyKey"], a["state"], None) for a in rest] == grpc_answers


def test_a_line_without_an_order_is_refused_in_the_same_words_on_grpc_and_ndjson(demo_data, stub, auth, token):
    """gRPC answered 'the order is invalid', NDJSON 'line 1: order must be a JSON object', for one mistake."""
    import json

    from django.test import Client

    before = all_insert_only_counts()
    (answer,) = stub.IngestOrders(iter([orders_pb2.IngestOrdersRequest(idempotency_key="no-order")]), metadata=auth)
    response = Client().post(
        "/api/v1/orders/ingest",
        b'{"idempotencyKey": "no-order"}\n{"idempotencyKey": "null-order", "order": null}\n',
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    lines = [json.loads(raw) for raw in b"".join(response.streaming_content).splitlines()]
    assert (answer.idempotency_key, answer.error.code, answer.error.message) == (
        "no-order",
        "INVALID_ARGUMENT",
        "message 1: order is required, an object",
    )
    assert lines == [
        {
            "idempotencyKey": key,
            "error": {"code": "INVALID_ARGUMENT", "message": f"line {n}: order is required, an object"},
        }
        for n, key in ((1, "no-order"), (2, "null-order"))
    ]
    assert all_insert_only_counts() == before


def test_a_stream_without_a_token_is_unauthenticated(demo_data, stub):
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.IngestOrders(iter([ingest_request("x")])))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert OrderRequest.objects.count() == 0


def test_a_stream_beyond_the_process_capacity_is_resource_exhausted_with_retry_info(demo_data, stub, auth, settings):
    settings.TPFGO_INGEST_MAX_STREAMS = 1
    settings.TPFGO_INGEST_RETRY_AFTER = 2
    held = ingest.admit()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.IngestOrders(iter([ingest_request("busy")]), metadata=auth))
    finally:
        held.release()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_delay(caught.value) == 2.0
    assert OrderRequest.objects.count() == 0


def test_under_reject_a_burst_beyond_the_buffer_is_refused_and_everything_accepted_completes(
    demo_data, stub, auth, settings
):
    settings.TPFGO_BUFFER_CAPACITY = 2
    settings.TPFGO_OVERFLOW_POLICY = "reject"
    settings.TPFGO_STREAM_WORKERS = 1  # 2 queued + 1 in flight (+1 if it finishes during the burst)
    untap = observers.tap("checkout", "order_request", lambda event: time.sleep(0.05))
    try:
        result = answers(stub.IngestOrders(iter([ingest_request(f"b-{i}") for i in range(20)]), metadata=auth))
    finally:
        untap()
    assert [key for key, _, _ in result] == [f"b-{i}" for i in range(20)]
    accepted = [key for key, state, code in result if code is None and state == "COMPLETED"]
    refused = [key for key, _, code in result if code == "RESOURCE_EXHAUSTED"]
    assert len(accepted) + len(refused) == 20 and 2 <= len(accepted) <= 4
    assert set(OrderRequest.objects.values_list("request_id", flat=True)) == set(accepted)
    assert TerminalOrderState.objects.count() == len(accepted)


def test_a_malformed_message_is_answered_in_place(demo_data, grpc_channel, auth):
    call = grpc_channel.stream_stream(
        "/tpfgo.checkout.v1.OrderService/IngestOrders",
        request_serializer=lambda raw: raw,
        response_deserializer=orders_pb2.IngestOrdersResponse.FromString,
    )
    good = ingest_request("m-1").SerializeToString()
    result = answers(call(iter([b"\xff\xff\xff", good]), metadata=auth))
    assert result == [(None, None, "INVALID_ARGUMENT"), ("m-1", "COMPLETED", None)]


def test_a_cancelled_stream_frees_its_admission_slot(demo_data, stub, auth):
    hold = threading.Event()

    def requests():
        yield ingest_request("c-1")
        hold.wait(10)

    call = stub.IngestOrders(requests(), metadata=auth)
    assert next(call).state == "COMPLETED"
    assert ingest.gate().active == 1
    call.cancel()
    hold.set()
    deadline = time.monotonic() + 10
    while ingest.gate().active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ingest.gate().active == 0
    assert OrderRequest.objects.count() == 1


def test_a_stream_whose_client_sends_nothing_for_the_idle_limit_is_answered_then_deadline_exceeded(
    demo_data, stub, auth, settings
):
    settings.TPFGO_INGEST_IDLE_SECONDS = 1
    settings.TPFGO_INGEST_MAX_STREAMS = 1
    hold = threading.Event()

    def requests():
        yield ingest_request("i-1")
        yield ingest_request("i-2")
        hold.wait(30)  # then nothing: the call stays open

    call = stub.IngestOrders(requests(), metadata=auth)
    received = []
    with pytest.raises(grpc.RpcError) as ended:  # before: it waited for a third message for ever
        for answer in call:
            received.append(answer)
    hold.set()
    assert answers(received) == [("i-1", "COMPLETED", None), ("i-2", "COMPLETED", None)]
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert ended.value.details().startswith("no message came for 1 s: the stream is ended")
    deadline = time.monotonic() + 10
    while ingest.gate().active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ingest.gate().active == 0  # the one slot is free: the next stream is admitted
    assert answers(stub.IngestOrders(iter([ingest_request("i-3")]), metadata=auth)) == [("i-3", "COMPLETED", None)]
    assert OrderRequest.objects.count() == TerminalOrderState.objects.count() == 3


def test_a_stream_whose_client_stops_reading_answers_is_ended_after_the_idle_limit(
    demo_data, stream_server, auth, settings
):
    settings.TPFGO_INGEST_IDLE_SECONDS = 1
    settings.TPFGO_INGEST_MAX_STREAMS = 1
    # Without BDP probing the client's HTTP/2 window stays at 64 KiB: answers it does not read soon fill it.
    channel = grpc.insecure_channel(stream_server, options=[("grpc.http2.bdp_probe", 0)])
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    hold = threading.Event()

    def requests():
        for number in range(5000):  # no order: each is answered INVALID_ARGUMENT, about 60 bytes, nothing stored
            yield orders_pb2.IngestOrdersRequest(idempotency_key=f"unread-{number}")
        hold.wait(30)

    call = stub.IngestOrders(requests(), metadata=auth)  # and never read: before, it held its slot for ever
    deadline = time.monotonic() + 30
    while ingest.gate().active == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # admitted
    while ingest.gate().active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ingest.gate().active == 0
    hold.set()
    with pytest.raises(grpc.RpcError) as ended:  # what it had received, then the end of the call
        for answer in call:
            assert answer.error.code == "INVALID_ARGUMENT"
    assert ended.value.code() == grpc.StatusCode.CANCELLED
    channel.close()
    assert answers(stub_of(stream_server).IngestOrders(iter([ingest_request("u-1")]), metadata=auth)) == [
        ("u-1", "COMPLETED", None)
    ]
    assert OrderRequest.objects.count() == 1


def stub_of(target: str):
    return orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(target))


def test_a_stream_whose_user_is_deactivated_places_no_message_after_and_ends_unauthenticated(
    demo_data, stub, auth, settings
):
    settings.TPFGO_INGEST_TOKEN_CHECK_SECONDS = 0  # checked before every message
    sent: queue.SimpleQueue = queue.SimpleQueue()

    def requests():
        while (request := sent.get(timeout=30)) is not None:
            yield request

    call = stub.IngestOrders(requests(), metadata=auth, timeout=30)
    try:
        for key in ("before-1", "before-2"):
            sent.put(ingest_request(key))
            assert answers([next(call)]) == [(key, "COMPLETED", None)]
        rows = all_insert_only_counts()
        assert get_user_model().objects.filter(username="stream-client").update(is_active=False) == 1
        sent.put(ingest_request("after-1"))
        sent.put(ingest_request("after-2"))
        with pytest.raises(grpc.RpcError) as ended:  # without waiting for the client to end its requests
            answer = next(call)
            raise AssertionError(f"placed {answer.idempotency_key} for a deactivated user")  # before the fix
    finally:
        sent.put(None)
        call.cancel()
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert ended.value.details() == (
        "User inactive or deleted. The stream is ended; the messages answered before are done, the others were "
        "not placed."
    )
    assert all_insert_only_counts() == rows
    assert sorted(OrderRequest.objects.values_list("request_id", flat=True)) == ["before-1", "before-2"]
