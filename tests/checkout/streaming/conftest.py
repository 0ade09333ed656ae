"""Streaming fixtures: an API token, NDJSON bodies and their answers, and a fresh set of stream gauges per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from access.tokens import create_token
from pipelines.engine import stream_gauges
from tests.checkout.conftest import order_body
from tests.conftest import sharing_in_memory_sqlite


@pytest.fixture(autouse=True)
def _fresh_gauges() -> Iterator[None]:
    stream_gauges.reset_for_tests()
    yield
    stream_gauges.reset_for_tests()


@pytest.fixture
def token(transactional_db: Any) -> str:
    """An ops principal's token (unbound: a stream carries many consumers' orders)."""
    return create_token(kind="ops", name="stream-client").key


def line(key: str | None, **order: Any) -> bytes:
    data: dict[str, Any] = {"order": order_body(**order)}
    if key is not None:
        data["idempotencyKey"] = key
    return json.dumps(data).encode() + b"\n"


def ndjson(lines: list[bytes]) -> bytes:
    return b"".join(lines)


@pytest.fixture
def stream_server(transactional_db: Any, token: str) -> Iterator[str]:
    """A real gRPC server with the project's handlers on a free port: its address.

    Its pool threads share an in-memory SQLite connection with the test (like pytest-django's live server); the
    stream's own worker threads open their own connections. On PostgreSQL every thread has its own connection.
    """
    from pipelines.transport.rpc import build_server
    from tpfgo_site.grpc_handlers import grpc_handlers

    with sharing_in_memory_sqlite() as share:
        server, port = build_server("127.0.0.1:0", grpc_handlers, max_workers=6, initializer=share)
        server.start()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.stop(grace=None).wait()


@pytest.fixture
def grpc_channel(stream_server: str) -> Iterator[Any]:
    """A channel to ``stream_server``."""
    import grpc

    channel = grpc.insecure_channel(stream_server)
    try:
        yield channel
    finally:
        channel.close()


@pytest.fixture
def stub(grpc_channel: Any) -> Any:
    from checkout.protos import orders_pb2_grpc

    return orders_pb2_grpc.OrderServiceStub(grpc_channel)


@pytest.fixture
def auth(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Token {token}")]


def ingest_request(key: str | None, **order: Any) -> Any:
    from google.protobuf import json_format

    from checkout.protos import orders_pb2

    request = orders_pb2.IngestOrdersRequest(
        order=json_format.ParseDict(order_body(**order), orders_pb2.CreateOrderRequest())
    )
    if key is not None:
        request.idempotency_key = key
    return request


def post(body: bytes, token: str) -> list[dict[str, Any]]:
    """The answers of one NDJSON ingest stream, in order."""
    response = Client().post(
        "/api/v1/orders/ingest", data=body, content_type="application/x-ndjson", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert response.status_code == 200, response.content
    return [json.loads(raw) for raw in b"".join(response.streaming_content).splitlines()]
