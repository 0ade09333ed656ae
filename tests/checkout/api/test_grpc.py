"""gRPC specifics: where the idempotency key comes from, the google.rpc.Status details, the grpcrunserver command,
and the django-grpc-framework fixes (pipelines.transport.grpc_compat)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from django.conf import settings
from django_grpc_framework.test import FakeServer
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from rest_framework import serializers

from checkout import demo, messages
from checkout.order_request.models import OrderRequest
from checkout.protos import orders_pb2, orders_pb2_grpc
from checkout.rpc.services import OrderService
from pipelines.transport.grpc_compat import ProtoSerializer
from tests.checkout.api.transports import Raw
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts


def test_the_key_comes_from_the_field_or_the_metadata_and_both_must_match(grpc_target, token):
    demo.load()
    stub = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(grpc_target))
    auth = ("authorization", f"Token {token}")
    request = messages.to_message(order_body(), orders_pb2.CreateOrderRequest)
    request.idempotency_key = "grpc-field-key"
    rows = all_insert_only_counts()
    with pytest.raises(grpc.RpcError) as mismatch:
        stub.CreateOrder(request, metadata=[auth, ("idempotency-key", "another-key")])
    assert mismatch.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert all_insert_only_counts() == rows

    created, call = stub.CreateOrder.with_call(request, metadata=[auth])
    assert dict(call.trailing_metadata()).get("idempotent-replayed") is None
    request.ClearField("idempotency_key")
    replayed, call = stub.CreateOrder.with_call(request, metadata=[auth, ("idempotency-key", "grpc-field-key")])
    assert dict(call.trailing_metadata())["idempotent-replayed"] == "true"
    assert (replayed.order_id, replayed.request_id) == (created.order_id, "grpc-field-key")

    request.items[0].quantity = 0
    with pytest.raises(grpc.RpcError) as invalid:
        stub.CreateOrder(request, metadata=[auth, ("idempotency-key", "grpc-invalid")])
    status = rpc_status.from_call(invalid.value)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "tpfgo") and info.metadata["correlationId"]
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("items[0].quantity", "must be an integer from 1 to 99")
    ]
    assert "Traceback" not in invalid.value.details()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_grpcrunserver_serves_the_order_service_on_django_5(tmp_path: Path):
    port = free_port()
    (tmp_path / "broker").mkdir()  # the filesystem broker's folder: the server is ready (health SERVING)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "TPFGO_VAR_DIR": str(tmp_path)}
    env["DJANGO_SETTINGS_MODULE"] = "tpfgo_site.settings"
    # The server refuses a database behind its code (pipelines.store.schema): this one is migrated first.
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=settings.BASE_DIR, env=env, check=True
    )
    server = subprocess.Popen(
        [sys.executable, "manage.py", "grpcrunserver", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            orders_pb2_grpc.OrderServiceStub(channel).GetOrder(orders_pb2.GetOrderRequest(order_id="x"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # A stream still open when the server stops: the stop ends it, its client gets UNAVAILABLE (after the
        # NOT_SERVING the stop pushes to health watchers, unless the stream was ended before that was sent).
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        server.terminate()
        after: list[int] = []
        with pytest.raises(grpc.RpcError) as stopped:
            after.extend(answer.status for answer in watch)
        assert stopped.value.code() == grpc.StatusCode.UNAVAILABLE
        assert after in ([], [health_pb2.HealthCheckResponse.NOT_SERVING])
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    started = [line for line in lines if line["event"] == "grpc.server_started"]
    assert [line["address"] for line in started] == [f"127.0.0.1:{port}"]
    # Each call's access line says what its client got: the stream the stop ended is no client's cancel.
    calls = [(line["method"], line["status"], line["messages_out"]) for line in lines if line["event"] == "grpc.access"]
    assert calls[0] == ("/tpfgo.checkout.v1.OrderService/GetOrder", "UNAUTHENTICATED", 0)
    (method, answered, sent), *others = calls[1:]
    assert (method, answered, others) == ("/grpc.health.v1.Health/Watch", "UNAVAILABLE", [])
    assert 1 + len(after) <= sent <= 2  # a NOT_SERVING handed to grpcio as the stop ended the stream is not received


def test_the_framework_fake_server_accepts_generated_registration_code():
    server = FakeServer()  # patched by tests/checkout/api/conftest.py (grpc_compat.patch_fake_server)
    orders_pb2_grpc.add_OrderServiceServicer_to_server(OrderService.as_servicer(), server)
    assert "/tpfgo.checkout.v1.OrderService/GetOrder" in server.rpc_method_handlers


class _Context:
    def __init__(self) -> None:
        self.aborted: grpc.Status | None = None

    def abort_with_status(self, status: grpc.Status) -> None:
        self.aborted = status
        raise RuntimeError("aborted")


class _CheckoutItem(ProtoSerializer):
    menu_item_id = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)

    class Meta:
        proto_class = orders_pb2.OrderItem


def test_compat_proto_serializers_read_protobuf_7_messages_and_abort_with_invalid_argument():
    ok = _CheckoutItem(message=orders_pb2.OrderItem(menu_item_id="naan", quantity=2))
    assert ok.is_valid() and ok.validated_data == {"menu_item_id": "naan", "quantity": 2}
    assert ok.message == orders_pb2.OrderItem(menu_item_id="naan", quantity=2)
    context = _Context()
    bad = _CheckoutItem(message=orders_pb2.OrderItem(menu_item_id="naan"), context={"grpc_context": context})
    with pytest.raises(RuntimeError):
        bad.is_valid(raise_exception=True)
    assert context.aborted is not None and context.aborted.code == grpc.StatusCode.INVALID_ARGUMENT


class _ExpiredContext(_Context):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Token {self.token}"), ("idempotency-key", "grpc-late")]

    def time_remaining(self) -> float:
        return 0.0


def test_a_call_whose_deadline_passed_before_it_was_handled_stores_nothing(token):
    demo.load()
    rows = all_insert_only_counts()
    context = _ExpiredContext(token)
    request = messages.to_message(order_body(), orders_pb2.CreateOrderRequest)
    with pytest.raises(RuntimeError):
        OrderService().CreateOrder(request, context)  # not as_servicer: its signals close the test connection
    assert context.aborted is not None and context.aborted.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert all_insert_only_counts() == rows


def test_an_empty_order_id_is_not_found_with_a_message_that_says_it_is_empty(transports):
    """Only gRPC can send an empty id (over HTTP it is another route); its message said ``order  not found``."""
    grpc_client = transports["grpc"]
    rows = all_insert_only_counts()
    for result in (grpc_client.get(""), grpc_client.lineage(""), grpc_client.cancel(""), grpc_client.watch("")):
        assert (result.code, result.data["message"]) == ("NOT_FOUND", "no order has an empty id")
    assert all_insert_only_counts() == rows


def test_bytes_that_are_no_message_are_invalid_argument_on_the_health_and_reflection_services_too(
    transactional_db, settings
):
    """grpcio's own handlers answered INTERNAL 'Exception deserializing request!'."""
    from grpc_health.v1 import health_pb2

    from access.tokens import create_token
    from tests.system.conftest import free_port
    from tpfgo_site.grpc_server import build

    settings.TPFGO_GRPC_REFLECTION = True  # off by default; on, it asks an ops token first, as every method does
    ops = [("authorization", f"Token {create_token(kind='ops', name='reflecting-ops').key}")]
    address = f"127.0.0.1:{free_port()}"
    server, _ = build(address, max_workers=2)
    channel = grpc.insecure_channel(address)
    try:
        raw = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}
        check = channel.unary_unary("/grpc.health.v1.Health/Check", **raw)
        assert health_pb2.HealthCheckResponse.FromString(check(b"", timeout=10)).status  # an empty message is valid
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch", **raw)
        reflect = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", **raw)
        calls = {
            "/grpc.health.v1.Health/Check": lambda: check(b"\xff\xff\xff", timeout=10),
            "/grpc.health.v1.Health/Watch": lambda: list(watch(b"\xff\xff\xff", timeout=10)),
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": lambda: list(
                reflect(iter([b"\xff\xff\xff"]), metadata=ops, timeout=10)
            ),
        }
        for method, call in calls.items():
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
            assert refused.value.details() == f"the request is not a valid message for {method}"
            info = error_details_pb2.ErrorInfo()
            assert rpc_status.from_call(refused.value).details[0].Unpack(info) and info.reason == "INVALID_ARGUMENT"
    finally:
        channel.close()
        server.stop(grace=None).wait()


def test_a_field_number_the_proto_does_not_define_is_ignored_as_proto3_does(transports):
    """docs/api.md: a newer client's field does not refuse its request; the request is the one without it."""
    demo.load()
    request = messages.to_message(order_body(), orders_pb2.CreateOrderRequest).SerializeToString()
    with_unknown = request + b"\xa0\x06\x01"  # field 100, varint 1
    raw = transports["grpc"].channel.unary_unary("/tpfgo.checkout.v1.OrderService/CreateOrder")
    auth = [("authorization", f"Token {transports['grpc'].token}")]
    first = orders_pb2.Order.FromString(raw(with_unknown, metadata=[*auth, ("idempotency-key", "unknown-field")]))
    again, call = raw.with_call(request, metadata=[*auth, ("idempotency-key", "unknown-field")])
    assert dict(call.trailing_metadata())["idempotent-replayed"] == "true"
    assert orders_pb2.Order.FromString(again).order_id == first.order_id
    over_http = transports["protobuf"].create(Raw(with_unknown), "unknown-field")
    assert (over_http.code, over_http.replayed, over_http.data["orderId"]) == ("OK", True, first.order_id)
    assert OrderRequest.objects.count() == 1


def test_a_malformed_authorization_is_refused_in_the_same_words_on_grpc_and_rest(grpc_target, token):
    """gRPC answered 'Authentication credentials were not provided.' for 'Token' alone and 'Token a b', where REST
    says what is wrong with the header (DRF's token authentication now reads the metadata as it reads the header)."""
    from rest_framework.test import APIClient

    missing = f"/api/v1/orders/{'0' * 8}-0000-0000-0000-{'0' * 12}"
    with grpc.insecure_channel(grpc_target) as channel:
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        for header in ("Token", f"Token {token} extra", "Bearer x", "Token not-a-key", f"token {token}"):
            rest = APIClient().get(missing, HTTP_AUTHORIZATION=header)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetOrder(orders_pb2.GetOrderRequest(order_id=missing[-36:]), metadata=[("authorization", header)])
            expected = rest.json()["error"]
            assert (refused.value.code().name, refused.value.details()) == (expected["code"], expected["message"]), (
                header
            )
