"""One order's bound in an ingest stream is one setting on both transports, ``TPFGO_API_MAX_BODY_BYTES`` (the bound
of a ``POST /api/v1/orders`` body): an NDJSON line or an ``IngestOrders`` message of exactly the bound is placed, one
byte over is that item's own ``INVALID_ARGUMENT`` answer in the same words, and the stream goes on. The NDJSON line
was bounded at 64 KiB while the gRPC message was bounded at 1 MiB, so an order one stream took the other refused."""

import json

import pytest
from google.protobuf.internal.encoder import _VarintBytes

from checkout.order_request.models import OrderRequest
from checkout.protos import orders_pb2
from tests.checkout.streaming.conftest import ingest_request, line, post

pytestmark = pytest.mark.django_db(transaction=True)
METHOD = "/tpfgo.checkout.v1.OrderService/IngestOrders"
UNKNOWN_FIELD = 15  # a number IngestOrdersRequest does not define: ignored, as proto3 parsers do


def ndjson_line(key: str, size: int) -> bytes:
    """A valid order's line of exactly ``size`` bytes before its LF: JSON whitespace pads it."""
    text = line(key).rstrip(b"\n")
    return text[:-1] + b" " * (size - len(text)) + b"}\n"


def message(key: str, size: int) -> bytes:
    """A valid order's ``IngestOrdersRequest`` of exactly ``size`` bytes: an unknown field pads it."""
    base = ingest_request(key).SerializeToString()
    tag = _VarintBytes(UNKNOWN_FIELD << 3 | 2)
    padding = size - len(base) - len(tag)
    while len(_VarintBytes(padding - len(_VarintBytes(padding)))) != len(_VarintBytes(padding)):
        padding -= 1
    payload = padding - len(_VarintBytes(padding))
    raw = base + tag + _VarintBytes(payload) + b"x" * payload
    assert len(raw) == size
    return raw


def test_an_ndjson_line_is_bounded_as_one_order_is(demo_data, token, settings):
    bound = settings.TPFGO_API_MAX_BODY_BYTES
    body = ndjson_line("at-bound", bound) + ndjson_line("over-bound", bound + 1) + line("after")
    answers = post(body, token)
    assert [(a["idempotencyKey"], a.get("state"), a.get("error")) for a in answers] == [
        ("at-bound", "COMPLETED", None),
        (None, None, {"code": "INVALID_ARGUMENT", "message": f"line 2: longer than {bound} bytes"}),
        ("after", "COMPLETED", None),
    ]
    assert sorted(OrderRequest.objects.values_list("request_id", flat=True)) == ["after", "at-bound"]


def test_an_ingest_orders_message_is_bounded_as_an_ndjson_line(demo_data, grpc_channel, auth, settings):
    bound = settings.TPFGO_API_MAX_BODY_BYTES
    call = grpc_channel.stream_stream(
        METHOD, request_serializer=bytes, response_deserializer=orders_pb2.IngestOrdersResponse.FromString
    )
    raw = [message("at-bound", bound), message("over-bound", bound + 1), ingest_request("after").SerializeToString()]
    answers = list(call(iter(raw), metadata=auth, timeout=60))
    assert [
        (a.idempotency_key if a.HasField("idempotency_key") else None, a.state, a.error.code, a.error.message)
        for a in answers
    ] == [
        ("at-bound", "COMPLETED", "", ""),
        (None, "", "INVALID_ARGUMENT", f"message 2: longer than {bound} bytes"),
        ("after", "COMPLETED", "", ""),
    ]
    assert sorted(OrderRequest.objects.values_list("request_id", flat=True)) == ["after", "at-bound"]


def test_both_streams_answer_a_line_over_the_bound_in_the_same_words(demo_data, token, grpc_channel, auth, settings):
    settings.TPFGO_API_MAX_BODY_BYTES = 2000  # one setting bounds both
    over = post(ndjson_line("over", 2001), token)[0]["error"]
    call = grpc_channel.stream_stream(
        METHOD, request_serializer=bytes, response_deserializer=orders_pb2.IngestOrdersResponse.FromString
    )
    answer = next(call(iter([message("over", 2001)]), metadata=auth, timeout=60)).error
    assert over == {"code": "INVALID_ARGUMENT", "message": "line 1: longer than 2000 bytes"}
    assert (answer.code, answer.message) == ("INVALID_ARGUMENT", "message 1: longer than 2000 bytes")
    assert OrderRequest.objects.count() == 0


def test_the_padding_is_read_as_the_order_it_pads():
    assert json.loads(ndjson_line("k", 500))["idempotencyKey"] == "k"
    assert orders_pb2.IngestOrdersRequest.FromString(message("k", 500)).idempotency_key == "k"
