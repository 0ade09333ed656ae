"""A database outage is 503 UNAVAILABLE with Retry-After on every transport, and the service recovers after it.

The test starts its own PostgreSQL (``initdb`` + ``pg_ctl`` on a free port, as the ``postgres`` OS user when run
as root), migrates it, serves it with real processes (gunicorn for REST and protobuf-over-HTTP, ``grpcrunserver``
for gRPC, ``manage.py invoke_function`` for FUNCTION), stops the database, calls every transport, starts the
database again and calls again. It never touches the shared PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from django.conf import settings
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from checkout.protos import orders_pb2, orders_pb2_grpc
from pipelines.transport.wire_errors import PROTOBUF

pytestmark = pytest.mark.integration

PG_BIN = Path("/usr/lib/postgresql/15/bin")
BIN = Path(sys.executable).parent
TIMEOUT = 60.0
RETRY_AFTER = "7"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster of this test only."""

    data: Path
    port: int

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data / "pg"), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data / "pg"), "-l", str(self.data / "pg.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data / "pg"), "-m", "fast", "-w", "stop")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15's server binaries are not installed ({PG_BIN})")
    server = Postgres(Path(tempfile.mkdtemp(prefix="tpfgo-outage-")), free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(server.data, ignore_errors=True)


@dataclass
class Served:
    env: dict[str, str]
    http: str
    grpc_target: str
    token: str
    tmp: Path


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def wait_for(ready: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        assert time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.05)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@pytest.fixture
def served(postgres: Postgres, tmp_path: Path) -> Iterator[Served]:
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE tpfgo_outage")
    for folder in ("queue", "processed"):
        (tmp_path / "var" / "broker" / folder).mkdir(parents=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tpfgo_site.settings",
        "DATABASE_URL": postgres.url("tpfgo_outage"),
        "TPFGO_VAR_DIR": str(tmp_path / "var"),
        "CELERY_BROKER_URL": "filesystem://",
        "TPFGO_API_UNAVAILABLE_RETRY_AFTER": RETRY_AFTER,
        "PYTHONUNBUFFERED": "1",
    }
    manage(env, "migrate", "--noinput")
    token = manage(
        env,
        "shell",
        "-c",
        "from access.tokens import create_token; print(create_token(kind='ops', name='outage').key)",
    ).split()[-1]
    http_port, grpc_port = free_port(), free_port()
    commands = [
        [str(BIN / "gunicorn"), "tpfgo_site.wsgi:application", "--bind", f"127.0.0.1:{http_port}", "--workers", "1"],
        [sys.executable, "manage.py", "grpcrunserver", f"127.0.0.1:{grpc_port}", "--max-workers", "2"],
    ]
    processes = []
    try:
        for n, command in enumerate(commands):
            with (tmp_path / f"process-{n}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        cwd=settings.BASE_DIR,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        wait_for(lambda: answers(f"http://127.0.0.1:{http_port}/healthz"), "gunicorn")
        grpc.channel_ready_future(grpc.insecure_channel(f"127.0.0.1:{grpc_port}")).result(timeout=TIMEOUT)
        yield Served(env, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", token, tmp_path)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=TIMEOUT)


def rest(served: Served, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(served.http + path, data=body, method=method)
    request.add_header("Authorization", f"Token {served.token}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def function(served: Served, path: str) -> dict[str, Any]:
    event = {"httpMethod": "GET", "path": path, "headers": {"Authorization": f"Token {served.token}"}}
    (served.tmp / "event.json").write_text(json.dumps(event))
    output = manage(served.env, "invoke_function", "--event", str(served.tmp / "event.json"))
    # The answer is printed indented; the process's JSON log lines (one line each) may come before it.
    lines = output.splitlines()
    return json.loads("\n".join(lines[lines.index("{") :]))


def grpc_get(served: Served, order_id: str) -> tuple[grpc.StatusCode, Any]:
    stub = orders_pb2_grpc.OrderServiceStub(grpc.insecure_channel(served.grpc_target))
    metadata = [("authorization", f"Token {served.token}")]
    try:
        stub.GetOrder(orders_pb2.GetOrderRequest(order_id=order_id), metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error.code(), rpc_status.from_call(error)  # type: ignore[arg-type]
    return grpc.StatusCode.OK, None


def retry_delay(status: status_pb2.Status) -> int:
    info = error_details_pb2.RetryInfo()
    found = [detail for detail in status.details if detail.Is(info.DESCRIPTOR)]
    assert len(found) == 1, status
    found[0].Unpack(info)
    return info.retry_delay.seconds


def test_a_database_outage_is_unavailable_with_retry_after_on_every_transport(postgres, served):
    missing = str(uuid.uuid4())
    assert rest(served, "GET", "/api/v1/consumers")[0] == 200
    assert grpc_get(served, missing)[0] == grpc.StatusCode.NOT_FOUND

    postgres.stop()

    for method, path, body in (
        ("GET", "/api/v1/consumers", None),
        ("GET", f"/api/v1/orders/{missing}", None),
        ("POST", "/api/v1/consumers", b'{"id": "bob", "name": "Bob"}'),
        ("POST", "/api/v1/orders", b'{"consumerId": "alice"}'),
    ):
        status, headers, raw = rest(served, method, path, body, Content_Type="application/json", Idempotency_Key="k")
        assert (status, headers.get("Retry-After")) == (503, RETRY_AFTER), (method, path, raw)
        assert json.loads(raw)["error"]["code"] == "UNAVAILABLE", (method, path)
        assert "Traceback" not in raw.decode()

    status, headers, raw = rest(served, "GET", f"/api/v1/orders/{missing}", Accept=PROTOBUF)
    assert (status, headers.get("Retry-After"), headers.get("Content-Type")) == (503, RETRY_AFTER, PROTOBUF)
    assert retry_delay(status_pb2.Status.FromString(raw)) == int(RETRY_AFTER)

    code, status_message = grpc_get(served, missing)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert retry_delay(status_message) == int(RETRY_AFTER)

    answer = function(served, "/api/v1/consumers")
    assert (answer["statusCode"], answer["headers"].get("Retry-After")) == (503, RETRY_AFTER)
    assert json.loads(answer["body"])["error"]["code"] == "UNAVAILABLE"

    assert rest(served, "GET", "/readyz")[0] == 503

    postgres.start()

    assert rest(served, "GET", "/api/v1/consumers")[0] == 200
    assert grpc_get(served, missing)[0] == grpc.StatusCode.NOT_FOUND
    assert function(served, "/api/v1/consumers")["statusCode"] == 200
