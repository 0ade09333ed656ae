"""The site's gRPC server in this process (tpfgo_site/grpc_server.py: the project's services, health and reflection,
as ``manage.py grpcrunserver`` builds them): what grpcio's own services count in the request metrics."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from tpfgo_site.grpc_server import build

CHECK = "/grpc.health.v1.Health/Check"
REFLECT = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def site_server(transactional_db: Any) -> Iterator[str]:
    """The site's server on a free port: its address."""
    address = f"127.0.0.1:{free_port()}"
    server, _ = build(address, 4)
    try:
        yield address
    finally:
        server.stop(grace=None).wait()


def requests(route: str, status: str) -> float:
    labels = {"route": route, "status": status, "transport": "grpc"}
    return REGISTRY.get_sample_value("tpfgo_requests_total", labels) or 0.0


def timed(route: str) -> float:
    return REGISTRY.get_sample_value("tpfgo_request_seconds_count", {"route": route, "transport": "grpc"}) or 0.0


def list_services(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (answer,) = list(stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=30))
    return sorted(service.name for service in answer.list_services_response.service)


def test_health_and_reflection_calls_are_counted_with_their_method_as_the_route(site_server):
    before = {
        (CHECK, "OK"): requests(CHECK, "OK"),
        (CHECK, "NOT_FOUND"): requests(CHECK, "NOT_FOUND"),
        (REFLECT, "OK"): requests(REFLECT, "OK"),
    }
    seconds = timed(CHECK), timed(REFLECT)
    with grpc.insecure_channel(site_server) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
        with pytest.raises(grpc.RpcError) as unknown:
            health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=30)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        assert "grpc.health.v1.Health" in list_services(channel)
    counted = {key: requests(*key) - value for key, value in before.items()}
    assert counted == {(CHECK, "OK"): 1, (CHECK, "NOT_FOUND"): 1, (REFLECT, "OK"): 1}
    assert (timed(CHECK) - seconds[0], timed(REFLECT) - seconds[1]) == (2, 1)
