"""gRPC's own conventions on the real server process: the standard health service follows the database (and so does
``tpfgo_grpc_serving`` on its metrics port, which TPFGoGrpcNotServing reads), reflection is off unless
TPFGO_GRPC_REFLECTION turns it on (tests/checkout/api/test_grpc_site_server.py: on, for an ops token), and a second
server on a taken port fails.

The database that goes down is a PostgreSQL cluster of this test's own (initdb and pg_ctl on a free port, stopped by
the test), never the machine's shared one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from django.conf import settings
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.system.conftest import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason=f"needs PostgreSQL 15's server binaries in {PG_BIN}"),
]


class OwnPostgres:
    """A throwaway cluster; as root, its commands run as the ``postgres`` user (initdb refuses root)."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="tpfgo-own-pg-", dir="/tmp"))
        self.data = self.home / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        self.run(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")

    def run(self, *args: object) -> None:
        command = [str(arg) for arg in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.home / "log", "-w", "start")

    def stop(self) -> None:
        self.run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    cluster = OwnPostgres()
    cluster.start()
    yield cluster
    cluster.remove()


def server_env(database_url: str, var: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "filesystem://",
        "TPFGO_VAR_DIR": str(var),
    }


def migrate(database_url: str, var: Path) -> None:
    """The server refuses a database behind its code (pipelines.store.schema): a fresh cluster is migrated first."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=settings.BASE_DIR,
        env=server_env(database_url, var),
        check=True,
        timeout=300,
    )


def grpcrunserver(address: str, database_url: str, var: Path, metrics: str = "") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "grpcrunserver", address],
        cwd=settings.BASE_DIR,
        env={
            **{k: v for k, v in server_env(database_url, var).items() if k != "TPFGO_GRPC_REFLECTION"},
            "TPFGO_GRPC_METRICS_BIND": metrics,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def status(stub: health_pb2_grpc.HealthStub, service: str = "") -> int:
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=30).status)


def serving(metrics: str) -> str:
    """The ``tpfgo_grpc_serving`` sample line of the server's metrics port."""
    with urllib.request.urlopen(f"http://{metrics}/", timeout=30) as answer:
        text = answer.read().decode()
    (line,) = [line for line in text.splitlines() if line.startswith("tpfgo_grpc_serving ")]
    return line


def listed_services(channel: grpc.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (answer,) = list(stub.ServerReflectionInfo(iter([request]), timeout=30))
    return sorted(service.name for service in answer.list_services_response.service)


def test_health_follows_the_database_reflection_is_off_by_default_and_a_taken_port_fails(own_postgres, tmp_path):
    (tmp_path / "broker").mkdir()  # the filesystem broker's folder: the broker half of readiness is ok
    address, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    migrate(own_postgres.url, tmp_path)
    server = grpcrunserver(address, own_postgres.url, tmp_path, metrics)
    try:
        channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(channel).result(timeout=60)
        health = health_pb2_grpc.HealthStub(channel)
        assert status(health) == SERVING
        assert status(health, "tpfgo.checkout.v1.OrderService") == SERVING
        assert serving(metrics) == "tpfgo_grpc_serving 1.0"
        with pytest.raises(grpc.RpcError) as reflection:
            listed_services(channel)
        assert reflection.value.code() == grpc.StatusCode.UNIMPLEMENTED  # off unless TPFGO_GRPC_REFLECTION is set

        second = grpcrunserver(address, own_postgres.url, tmp_path)
        _, error = second.communicate(timeout=120)
        assert second.returncode == 1
        assert f"cannot listen on {address}: the address is in use" in error

        own_postgres.stop()
        assert status(health) == NOT_SERVING
        assert status(health, "tpfgo.checkout.v1.OrderService") == NOT_SERVING
        assert serving(metrics) == "tpfgo_grpc_serving 0.0"  # running, answering, and serving nothing
        own_postgres.start()
        assert status(health) == SERVING
        assert serving(metrics) == "tpfgo_grpc_serving 1.0"
        channel.close()
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert server.returncode == 0
