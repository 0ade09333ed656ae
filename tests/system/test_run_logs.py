"""Every line ``make run`` prints once its banner is out is JSON: gunicorn, Celery, the gRPC server, bin/run itself.

The run ends with a Ctrl-C, which must stop everything too.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections import Counter

import grpc
import pytest

from checkout.protos import orders_pb2, orders_pb2_grpc
from tests.system.conftest import STOP_BOUND, MakeRun, wait_for

pytestmark = pytest.mark.integration


def non_json(lines: list[str]) -> list[str]:
    bad = []
    for line in lines:
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    return bad


def test_make_run_logs_only_json_lines_after_its_banner(make_run):
    run: MakeRun = make_run()
    # Traffic: an order, one whose payment fails once and is retried by the worker, a bad request, an unknown route,
    # a gRPC call refused for want of a token and one that reads an order.
    done = run.place("logs-ok", paymentToken="tok_ok")["orderId"]
    flaky = run.place("logs-flaky", paymentToken="tok_flaky_1")
    assert flaky["stalled"]["step"] == "payment_authorized"
    bad = run.api("POST", "/api/v1/orders", {"consumerId": "alice"}, **{"Idempotency-Key": "logs-bad"})
    assert bad[0] == 400
    assert run.status("/api/v1/no-such-route") == 404
    channel = grpc.insecure_channel(f"127.0.0.1:{run.grpc_port}")
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetOrder(orders_pb2.GetOrderRequest(order_id=done), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    read = stub.GetOrder(
        orders_pb2.GetOrderRequest(order_id=done), metadata=[("authorization", f"Token {run.token()}")], timeout=10
    )
    assert read.order_id == done
    channel.close()
    wait_for(lambda: run.state(flaky["orderId"]) == "COMPLETED", 60, "the retried order to complete", run)

    # Ctrl-C (SIGINT to the group, as a terminal sends it); SIGTERM is tests/system/test_run_shutdown.py's.
    assert run.stop(signal.SIGINT) < STOP_BOUND
    assert run.leftovers() == []

    banner = run.banner()
    for label, url in [("API docs", "/api/v1/docs"), ("API ReDoc", "/api/v1/redoc"), ("health", "/healthz")]:
        assert f"  {label:<12} {run.url(url)}\n" in banner
    assert f"  gRPC         127.0.0.1:{run.grpc_port}  (" in banner

    lines = run.after_banner()
    assert non_json(lines) == []
    events = [json.loads(line) for line in lines]
    loggers = Counter(event.get("logger") for event in events)
    # The lines counted above come from every server, so the zero is not vacuous.
    assert {"gunicorn.error", "gunicorn.access", "tpfgo_site.grpc_server", "celery.apps.worker", "bin.run"} <= set(
        loggers
    )
    access = [(e["method"], e["path"], e["status"]) for e in events if e["event"] == "http.access"]
    assert ("POST", "/api/v1/orders", 400) in access and ("GET", "/api/v1/no-such-route", 404) in access
    # The refused order's access line names the request_id its answer quotes, and so do the request's other lines.
    (refused,) = [e for e in events if e["event"] == "http.access" and e["status"] == 400]
    assert refused["request_id"] == bad[1]["error"]["correlationId"]
    others = {e["event"] for e in events if e.get("request_id") == refused["request_id"] and e is not refused}
    assert {"request_started", "request_finished"} <= others
    retries = [(e["attempt"], e["status"]) for e in events if e["event"] == "retry.ran"]
    assert retries == [(2, "inserted")]  # the flaky payment, retried once by the worker
    assert events[-1]["event"] == "run.stopped"
    # bin/run's own lines: the event is the name the runbook keys on, what it says is in fields (docs/operations.md).
    own = [
        {k: v for k, v in e.items() if k not in ("timestamp", "logger")} for e in events if e.get("logger") == "bin.run"
    ]
    assert {e["event"] for e in own} == {"run.signal", "run.stopping", "run.stopped"}
    assert {e.get("signal") for e in own if e["event"] == "run.signal"} == {"SIGINT"}  # make's copy may add a line
    assert [e for e in own if e["event"] == "run.stopping"] == [
        {"event": "run.stopping", "reason": "signal received", "level": "info"}
    ]


def test_a_server_that_dies_stops_make_run_with_json_lines_naming_it(make_run):
    run: MakeRun = make_run()
    (grpc,) = [int(line.split(":")[0]) for line in run.leftovers() if "grpcrunserver" in line]
    os.kill(grpc, signal.SIGKILL)
    assert run.process.wait(timeout=STOP_BOUND) != 0
    wait_for(lambda: not run.leftovers(), STOP_BOUND, "every process of the run to end")

    lines = [line for line in run.after_banner() if not re.match(r"make(\[\d+\])?: \*\*\* ", line)]  # make's own
    assert non_json(lines) == []
    own = [json.loads(line) for line in lines if '"logger": "bin.run"' in line]
    assert [(e["event"], e.get("server"), e.get("status")) for e in own][:2] == [
        ("run.server_exited", "grpc", "137"),
        ("run.stopping", None, None),
    ]
    assert own[1]["reason"] == "grpc ended" and own[-1]["event"] == "run.stopped"
