"""API fixtures: a token, a real gRPC server on a free port sharing the test database, and the four transports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from access.tokens import create_token
from pipelines.transport import grpc_compat
from pipelines.transport.rpc import build_server
from tests.checkout.api.transports import Function, Grpc, Http, ProtobufHttp
from tests.conftest import sharing_in_memory_sqlite
from tpfgo_site.grpc_handlers import grpc_handlers

grpc_compat.patch_fake_server()


@pytest.fixture
def token(db: Any) -> str:
    """An ops principal's token (every scope); tests/checkout/api/test_permissions.py covers the other kinds."""
    return create_token(kind="ops", name="api-client").key


@pytest.fixture
def api(token: str) -> APIClient:
    """In-process REST client with the token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def grpc_target(transactional_db: Any) -> Iterator[str]:
    """A real gRPC server (the project's handlers) on 127.0.0.1 and a free port.

    Like pytest-django's live server, it shares an in-memory SQLite connection with the test; on PostgreSQL each
    worker thread opens its own connection to the test database (the test is transactional).
    """
    # Worker threads keep their own connections (CONN_MAX_AGE); here each request closes its connection when it
    # ends, so none outlives the test database.
    settings_dict = connections["default"].settings_dict
    max_age = settings_dict.get("CONN_MAX_AGE", 0)
    settings_dict["CONN_MAX_AGE"] = 0
    with sharing_in_memory_sqlite() as share:
        server, port = build_server("127.0.0.1:0", grpc_handlers, max_workers=4, initializer=share)
        server.start()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.stop(grace=None).wait()
            settings_dict["CONN_MAX_AGE"] = max_age


@pytest.fixture
def transports(live_server: Any, grpc_target: str, token: str) -> dict[str, Any]:
    """The four ways in, by name."""
    return {
        "rest": Http(live_server.url, token),
        "grpc": Grpc(grpc_target, token),
        "function": Function(token),
        "protobuf": ProtobufHttp(live_server.url, token),
    }
