"""One client per transport with the same calls, each answering a normalized ``Result``.

REST and protobuf-over-HTTP talk to a real HTTP server, gRPC to a real gRPC server; the FUNCTION transport is
a handler called with an API-gateway event. ``MALFORMED`` asks each client to send a body its transport cannot
parse (broken JSON, bytes that are no protobuf message).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from checkout import function, messages
from checkout.protos import orders_pb2, orders_pb2_grpc
from pipelines.contracts.status import STATUS
from pipelines.protos import error_sink_pb2, error_sink_pb2_grpc, subscriptions_pb2, subscriptions_pb2_grpc
from pipelines.transport.wire_errors import describe

MALFORMED = object()


@dataclass(frozen=True)
class Raw:
    """A body sent byte for byte (HTTP transports), whatever it holds."""

    data: bytes
    content_type: str = "application/json"


BROKEN_JSON = '{"consumerId": "alice", "items": [,,'
BROKEN_PROTOBUF = b"\xff\xff\xff\xff"
PROTOBUF = "application/x-protobuf"
DEFAULT = object()  # the client's own valid token


@dataclass
class Result:
    code: str  # "OK" or the code of the status table
    data: dict[str, Any] | None = None  # the answer as JSON (camelCase), or the error as {code, message, details}
    http: int | None = None
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""
    grpc: str | None = None  # the gRPC status code's name, on gRPC

    @property
    def order(self) -> dict[str, Any]:
        assert self.data is not None, self
        return self.data.get("order", self.data)

    def summary(self) -> tuple[str, str, list[tuple[str, str]]]:
        """(orderId, state, checkpoints) — what must be equal across transports."""
        order = self.order
        return order["orderId"], order["state"], [(c["type"], c["id"]) for c in order["checkpoints"]]


def _code_for(status: int, body: dict[str, Any] | None) -> str:
    if status < 400:
        return "OK"
    return (body or {}).get("error", {}).get("code", f"HTTP {status}")


class Http:
    """REST: JSON over a real HTTP server."""

    name = "rest"

    def __init__(self, base_url: str, token: str) -> None:
        self.base, self.token = base_url.rstrip("/"), token

    def send(self, method: str, path: str, body: Any = None, token: Any = DEFAULT, **headers: str) -> Result:
        token = self.token if token is DEFAULT else token
        raw, content_type = self.encode(path, body)
        request = urllib.request.Request(self.base + path, data=raw, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if token is not None:
            request.add_header("Authorization", f"Token {token}")
        for name, value in self.headers(headers).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer, got = response.status, response.read(), dict(response.headers.items())
        except urllib.error.HTTPError as error:
            status, answer, got = error.code, error.read(), dict(error.headers.items())
        return self.decode(path, status, answer, got)

    def headers(self, extra: dict[str, str]) -> dict[str, str]:
        return {name.replace("_", "-"): value for name, value in extra.items()}

    def encode(self, path: str, body: Any) -> tuple[bytes | None, str | None]:
        if body is None:
            return None, None
        if body is MALFORMED:
            return BROKEN_JSON.encode(), "application/json"
        if isinstance(body, Raw):
            return body.data, body.content_type
        return json.dumps(body).encode(), "application/json"

    def decode(self, path: str, status: int, raw: bytes, headers: dict[str, str]) -> Result:
        body = json.loads(raw) if raw else None
        replayed = headers.get("Idempotent-Replayed") == "true"
        error = body["error"] if status >= 400 and body else None
        return Result(_code_for(status, body), error or body, status, replayed, headers, raw)

    def create(self, body: Any, key: str | None, token: Any = DEFAULT) -> Result:
        extra = {"Idempotency-Key": key} if key is not None else {}
        return self.send("POST", "/api/v1/orders", body, token, **extra)

    def get(self, order_id: str, token: Any = DEFAULT) -> Result:
        return self.send("GET", f"/api/v1/orders/{order_id}", None, token)

    def lineage(self, order_id: str, token: Any = DEFAULT) -> Result:
        return self.send("GET", f"/api/v1/orders/{order_id}/lineage", None, token)

    def cancel(self, order_id: str, note: str | None = None, token: Any = DEFAULT) -> Result:
        return self.send("POST", f"/api/v1/orders/{order_id}/cancel", {"note": note} if note else {}, token)

    def revise(self, order_id: str, body: Any, key: str | None, token: Any = DEFAULT) -> Result:
        extra = {"Idempotency-Key": key} if key is not None else {}
        return self.send("POST", f"/api/v1/orders/{order_id}/revise", body, token, **extra)


_MESSAGES = {"/api/v1/orders": (orders_pb2.CreateOrderRequest, orders_pb2.Order)}


def _proto_types(path: str) -> tuple[type, type]:
    if path in _MESSAGES:
        return _MESSAGES[path]
    if path.endswith("/cancel"):
        return orders_pb2.CancelOrderRequest, orders_pb2.CancelOrderResponse
    if path.endswith("/revise"):
        return orders_pb2.ReviseOrderRequest, orders_pb2.ReviseOrderResponse
    if path.endswith("/lineage"):
        return orders_pb2.GetLineageRequest, orders_pb2.LineageNode
    return orders_pb2.GetOrderRequest, orders_pb2.Order


class ProtobufHttp(Http):
    """Protobuf-over-HTTP: the gRPC messages as HTTP bodies, errors as a serialized google.rpc.Status."""

    name = "protobuf"

    def headers(self, extra: dict[str, str]) -> dict[str, str]:
        return {"Accept": PROTOBUF, **super().headers(extra)}

    def encode(self, path: str, body: Any) -> tuple[bytes | None, str | None]:
        if body is None:
            return None, PROTOBUF
        if body is MALFORMED:
            return BROKEN_PROTOBUF, PROTOBUF
        if isinstance(body, Raw):
            return body.data, PROTOBUF
        return messages.to_message(body, _proto_types(path)[0]).SerializeToString(), PROTOBUF

    def decode(self, path: str, status: int, raw: bytes, headers: dict[str, str]) -> Result:
        replayed = headers.get("Idempotent-Replayed") == "true"
        if status >= 400:
            assert headers.get("Content-Type") == PROTOBUF, (status, headers, raw[:200])
            error = describe(status_pb2.Status.FromString(raw))
            return Result(error["code"], error, status, replayed, headers, raw)
        data = messages.to_data(_proto_types(path)[1].FromString(raw))
        return Result("OK", data, status, replayed, headers, raw)


class Function(Http):
    """The FUNCTION handler, called with API-gateway proxy events (JSON bodies)."""

    name = "function"

    def __init__(self, token: str) -> None:
        super().__init__("", token)

    def send(self, method: str, path: str, body: Any = None, token: Any = DEFAULT, **headers: str) -> Result:
        token = self.token if token is DEFAULT else token
        raw, content_type = self.encode(path, body)
        event_headers = {"content-type": content_type or "", **self.headers(headers)}
        if token is not None:
            event_headers["AUTHORIZATION"] = f"Token {token}"  # header names are case-insensitive
        event = {
            "httpMethod": method,
            "path": path,
            "headers": event_headers,
            "isBase64Encoded": False,
            "body": raw.decode() if raw is not None else None,
        }
        answer = function.handler(event, None)
        got = {k: v for k, v in answer["headers"].items()}
        assert not answer["isBase64Encoded"], answer
        return self.decode(path, answer["statusCode"], answer["body"].encode(), got)


def _grpc_error(error: grpc.RpcError) -> Result:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, (error.code(), error.details())
    described = describe(status)
    assert STATUS[described["code"]][1] == error.code().name, described  # the reason is the table's code
    return Result(described["code"], described, grpc=error.code().name)


class Grpc:
    """gRPC: ``tpfgo.checkout.v1.OrderService`` (and the error sink) on a real server; errors decoded from
    google.rpc.Status."""

    name = "grpc"

    def __init__(self, target: str, token: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = orders_pb2_grpc.OrderServiceStub(self.channel)
        self.sink = error_sink_pb2_grpc.ErrorSinkServiceStub(self.channel)
        self.subscriptions = subscriptions_pb2_grpc.SubscriptionServiceStub(self.channel)
        self.token = token

    def _metadata(self, token: Any, **extra: str) -> list[tuple[str, str]]:
        token = self.token if token is DEFAULT else token
        pairs = [(k, v) for k, v in extra.items()]
        return pairs + ([("authorization", f"Token {token}")] if token is not None else [])

    def _call(self, method: Any, request: Any, metadata: list[tuple[str, str]]) -> Result:
        try:
            response, call = method.with_call(request, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return _grpc_error(error)
        trailing = dict(call.trailing_metadata() or ())
        data = response if isinstance(response, bytes) else messages.to_data(response)
        return Result("OK", data, replayed=trailing.get("idempotent-replayed") == "true")

    def create(self, body: Any, key: str | None, token: Any = DEFAULT, *, in_field: bool = False) -> Result:
        extra = {"idempotency-key": key} if key is not None and not in_field else {}
        metadata = self._metadata(token, **extra)
        if body is MALFORMED:
            raw = self.channel.unary_unary("/tpfgo.checkout.v1.OrderService/CreateOrder")
            return self._call(raw, BROKEN_PROTOBUF, metadata)
        request = messages.to_message(body, orders_pb2.CreateOrderRequest)
        if in_field and key is not None:
            request.idempotency_key = key
        return self._call(self.stub.CreateOrder, request, metadata)

    def get(self, order_id: str, token: Any = DEFAULT) -> Result:
        return self._call(self.stub.GetOrder, orders_pb2.GetOrderRequest(order_id=order_id), self._metadata(token))

    def lineage(self, order_id: str, token: Any = DEFAULT) -> Result:
        request = orders_pb2.GetLineageRequest(order_id=order_id)
        return self._call(self.stub.GetLineage, request, self._metadata(token))

    def revise(self, order_id: str, body: Any, key: str | None, token: Any = DEFAULT) -> Result:
        metadata = self._metadata(token, **({"idempotency-key": key} if key is not None else {}))
        if body is MALFORMED:
            raw = self.channel.unary_unary("/tpfgo.checkout.v1.OrderService/ReviseOrder")
            return self._call(raw, BROKEN_PROTOBUF, metadata)
        request = messages.to_message(body, orders_pb2.ReviseOrderRequest)
        request.order_id = order_id
        return self._call(self.stub.ReviseOrder, request, metadata)

    def cancel(self, order_id: str, note: str | None = None, token: Any = DEFAULT) -> Result:
        request = orders_pb2.CancelOrderRequest(order_id=order_id, note=note) if note else None
        request = request or orders_pb2.CancelOrderRequest(order_id=order_id)
        return self._call(self.stub.CancelOrder, request, self._metadata(token))

    def ingest(self, requests: list[orders_pb2.IngestOrdersRequest], token: Any = DEFAULT) -> Result:
        """IngestOrders: the answers of one stream (``data["answers"]``), or the code that ended it."""
        try:
            answers = list(self.stub.IngestOrders(iter(requests), metadata=self._metadata(token), timeout=30))
        except grpc.RpcError as error:
            return _grpc_error(error)
        return Result("OK", {"answers": [messages.to_data(answer) for answer in answers]})

    def record(self, entry: error_sink_pb2.ErrorSinkEntry, token: Any = DEFAULT) -> Result:
        return self._call(self.sink.Record, entry, self._metadata(token))

    def subscribe(self, request: subscriptions_pb2.SubscribeRequest, token: Any = DEFAULT) -> Result:
        """Subscribe: the first message of the stream (then the call is cancelled), or the refusal."""
        call = self.subscriptions.Subscribe(request, metadata=self._metadata(token), timeout=30)
        try:
            first = next(call)
        except grpc.RpcError as error:
            return _grpc_error(error)
        finally:
            call.cancel()
        return Result("OK", messages.to_data(first))

    def acknowledge(self, request: subscriptions_pb2.AcknowledgeRequest, token: Any = DEFAULT) -> Result:
        return self._call(self.subscriptions.Acknowledge, request, self._metadata(token))

    def watch(self, order_id: str, token: Any = DEFAULT) -> Result:
        """WatchOrder of an order that ended: its checkpoints (``data["checkpoints"]``), or the refusal."""
        request = orders_pb2.WatchOrderRequest(order_id=order_id)
        try:
            entries = list(self.stub.WatchOrder(request, metadata=self._metadata(token), timeout=30))
        except grpc.RpcError as error:
            return _grpc_error(error)
        return Result("OK", {"checkpoints": [messages.to_data(entry) for entry in entries]})
