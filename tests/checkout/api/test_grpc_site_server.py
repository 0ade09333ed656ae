"""The site's gRPC server in this process (tpfgo_site/grpc_server.py: the project's services, health and reflection,
as ``manage.py grpcrunserver`` builds them): what grpcio's own services count in the request metrics, and server
reflection only with TPFGO_GRPC_REFLECTION and an ops token."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from access.tokens import create_token
from pipelines import metrics
from tpfgo_site.grpc_server import build, metrics_registry

CHECK = "/grpc.health.v1.Health/Check"
REFLECT = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SERVICES = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "tpfgo.checkout.v1.OrderService",
    "tpfgo.ops.v1.ErrorSinkService",
    "tpfgo.ops.v1.SubscriptionService",
    "tpfgo.search.v1.SearchService",
]


@pytest.fixture
def reflection(settings: Any) -> None:
    settings.TPFGO_GRPC_REFLECTION = True


@pytest.fixture
def ops(transactional_db: Any) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Token {create_token(kind='ops', name='reflecting-ops').key}"),)


@pytest.fixture
def site_server(transactional_db: Any) -> Iterator[str]:
    """The site's server on a free port (built with the test's settings): its address."""
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


def test_health_and_reflection_calls_are_counted_with_their_method_as_the_route(reflection, ops, site_server):
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
        assert "grpc.health.v1.Health" in list_services(channel, ops)
    counted = {key: requests(*key) - value for key, value in before.items()}
    assert counted == {(CHECK, "OK"): 1, (CHECK, "NOT_FOUND"): 1, (REFLECT, "OK"): 1}
    assert (timed(CHECK) - seconds[0], timed(REFLECT) - seconds[1]) == (2, 1)


def test_reflection_is_off_unless_the_setting_turns_it_on(site_server, ops):
    with grpc.insecure_channel(site_server) as channel, pytest.raises(grpc.RpcError) as off:
        list_services(channel, ops)
    assert off.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_reflection_turned_on_lists_every_service_to_an_ops_token_only(reflection, ops, site_server):
    subscriber = (("authorization", f"Token {create_token(kind='subscriber', name='reflecting-sub').key}"),)
    refused = {}
    with grpc.insecure_channel(site_server) as channel:
        for name, metadata in (("none", ()), ("subscriber", subscriber)):
            with pytest.raises(grpc.RpcError) as caught:
                list_services(channel, metadata)
            refused[name] = caught.value.code()
        assert list_services(channel, ops) == SERVICES
    assert refused == {"none": grpc.StatusCode.UNAUTHENTICATED, "subscriber": grpc.StatusCode.PERMISSION_DENIED}


def readiness_scraped(address: str) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(f"http://{address}/", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.labels["check"], sample.labels["result"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tpfgo_readiness_checks_total"
    }


def test_a_server_without_a_samples_folder_serves_its_health_checks_on_its_metrics_port(
    site_server, monkeypatch, tmp_path
):
    """Its broker checks (``TPFGoBrokerUnreachable``) are in its memory only: before, its port served only its
    streams' gauges, and no scrape had them. With a folder shared with a web node, that node's ``/metrics`` has them."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with grpc.insecure_channel(site_server) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
    counted = {
        (check, result): REGISTRY.get_sample_value("tpfgo_readiness_checks_total", {"check": check, "result": result})
        for check in ("database", "broker")
        for result in ("ok", "failed")
    }
    assert sum(value or 0 for (check, _), value in counted.items() if check == "broker") >= 2  # build's, Check's
    own = readiness_scraped(metrics.serve("127.0.0.1:0", metrics_registry()))
    assert own == {key: value for key, value in counted.items() if value is not None}

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # shared: the web's /metrics sums it
    assert readiness_scraped(metrics.serve("127.0.0.1:0", metrics_registry())) == {}
