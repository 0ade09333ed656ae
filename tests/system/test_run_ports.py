"""A taken or malformed HTTP, gRPC or gRPC-metrics port fails ``make run`` at once, with a message naming the port
and its variable."""

from __future__ import annotations

import socket

import pytest

from tests.system.conftest import MakeRun, free_port

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


@pytest.mark.parametrize(("variable", "value"), [("PORT", "80a"), ("GRPC_PORT", "0"), ("GRPC_METRICS_PORT", "65536")])
def test_a_port_that_is_no_port_number_fails_make_run_before_any_work(make_run, variable, value):
    run: MakeRun = make_run(wait=False, **{variable: value})
    assert run.process.wait(timeout=120) != 0
    assert f"run: {variable}={value} is not a port: give a number from 1 to 65535" in run.output()
    assert not run.database.exists()
    assert "TPFGo is starting" not in run.output()
    assert run.leftovers() == []
