"""A taken or malformed HTTP, gRPC or gRPC-metrics port fails ``make run`` at once, with a message naming the port
and its variable."""

from __future__ import annotations

import socket
import time

import pytest

from tests.system.conftest import MakeRun, free_port, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("PORT", "port {port} (HTTP, PORT) is already in use on 127.0.0.1"),
        ("GRPC_PORT", "port {port} (gRPC, GRPC_PORT) is already in use on 127.0.0.1"),
        ("GRPC_METRICS_PORT", "port {port} (gRPC metrics, GRPC_METRICS_PORT) is already in use on 127.0.0.1"),
    ],
)
def test_a_taken_port_fails_make_run_before_any_work(make_run, variable, message):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        run: MakeRun = make_run(wait=False, **{variable: str(port)})
        assert run.process.wait(timeout=120) != 0
    assert message.format(port=port) in run.output()
    assert not run.database.exists()  # nothing migrated, nothing stored
    assert "TPFGo is starting" not in run.output()
    assert run.leftovers() == []


def lingering_port() -> int:
    """A port nothing listens on whose last connection the server closed first: it stays in TIME_WAIT for a minute,
    as make run's HTTP port does after a stop while Prometheus scraped it."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", free_port()))
        server.listen()
        with socket.create_connection(server.getsockname()):
            accepted, _ = server.accept()
            accepted.close()  # the server's side closes first: TIME_WAIT on the server's port
            time.sleep(0.1)
        return int(server.getsockname()[1])


def test_a_port_an_earlier_run_left_in_time_wait_is_free_for_make_run(make_run):
    port = lingering_port()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # the lingering connection is there (a bind without SO_REUSEADDR fails)
    run: MakeRun = make_run(wait=False, PORT=str(port))
    run.port = port
    wait_for(lambda: run.status("/healthz") == 200, 180, "HTTP to answer on the lingering port", run)
    assert "is already in use" not in run.output()
    assert run.stop() < 30 and run.leftovers() == []


@pytest.mark.parametrize(("variable", "value"), [("PORT", "80a"), ("GRPC_PORT", "0"), ("GRPC_METRICS_PORT", "65536")])
def test_a_port_that_is_no_port_number_fails_make_run_before_any_work(make_run, variable, value):
    run: MakeRun = make_run(wait=False, **{variable: value})
    assert run.process.wait(timeout=120) != 0
    assert f"run: {variable}={value} is not a port: give a number from 1 to 65535" in run.output()
    assert not run.database.exists()
    assert "TPFGo is starting" not in run.output()
    assert run.leftovers() == []
