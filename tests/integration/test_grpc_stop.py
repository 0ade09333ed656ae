"""A gRPC server process stopping (SIGTERM, tpfgo_site/grpc_server.py ``stop``) with a unary call in flight and a
WatchOrder stream open: the call is answered, then the stream is ended at once, its client gets UNAVAILABLE, and the
process says it stopped once every call's access line is written. Before, the stream held the stop for its whole
grace (5 s) whatever was in flight, and its access line came after ``grpc.server_stopped``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest
from django.conf import settings

from access.tokens import create_token
from checkout.order_request.models import OrderRequest
from checkout.protos import orders_pb2, orders_pb2_grpc
from tests.checkout.conftest import order_body, place
from tests.integration.conftest import process_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ORDERS = "/tpfgo.checkout.v1.OrderService/"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def position(lines: list[dict[str, Any]], event: str, **fields: Any) -> int:
    (found,) = [n for n, line in enumerate(lines) if line["event"] == event and fields.items() <= line.items()]
    return found


def test_a_stop_answers_the_unary_call_in_flight_then_ends_the_open_watch_with_unavailable(demo_data, tmp_path):
    from checkout import messages

    token = create_token(kind="ops", name="stop-client").key
    auth = [("authorization", f"Token {token}")]
    waiting = place("stop-watched", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    assert waiting["state"] == "AWAITING_ACCEPTANCE"  # its watch stays open: the order waits for the kitchen
    hold, log, port = tmp_path / "hold", tmp_path / "grpc.log", free_port()
    hold.mkdir()
    env = process_env(TPFGO_PAYMENT_GATEWAY="tests.integration.held_gateway.HeldGateway", TPFGO_TEST_HOLD_DIR=str(hold))
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "grpcrunserver", f"127.0.0.1:{port}"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    answered: dict[str, Any] = {}
    try:
        grpc.channel_ready_future(channel).result(timeout=60)
        stub = orders_pb2_grpc.OrderServiceStub(channel)
        watch = stub.WatchOrder(orders_pb2.WatchOrderRequest(order_id=waiting["orderId"]), metadata=auth, timeout=120)
        assert [next(watch).id for _ in waiting["checkpoints"]] == [c["id"] for c in waiting["checkpoints"]]
        request = messages.to_message(order_body(), orders_pb2.CreateOrderRequest)

        def create() -> None:
            metadata = [*auth, ("idempotency-key", "stop-in-flight")]
            answered["order"] = stub.CreateOrder(request, metadata=metadata, timeout=120)

        creating = threading.Thread(target=create)
        creating.start()
        wait_for(lambda: (hold / "arrived").exists(), 60, what="the CreateOrder call to reach the gateway")
        os.killpg(server.pid, signal.SIGTERM)
        wait_for(lambda: "grpc.server_stopping" in log.read_text(), 60, what="the server to begin its stop")
        (hold / "release").touch()  # the unary call in flight now finishes, within the grace
        with pytest.raises(grpc.RpcError) as ended:
            next(watch)
        creating.join(60)
        assert server.wait(timeout=60) == 0
    finally:
        channel.close()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert OrderRequest.objects.filter(request_id="stop-in-flight").count() == 1
    assert answered["order"].order_id
    lines = events(log)
    stopping = position(lines, "grpc.server_stopping")
    created = position(lines, "grpc.access", method=ORDERS + "CreateOrder")
    cut = position(lines, "grpc.streams_ended", streams=1)
    watched = position(lines, "grpc.access", method=ORDERS + "WatchOrder")
    stopped = position(lines, "grpc.server_stopped")
    assert stopping < created < cut < watched < stopped  # every call it ended has its line before it says stopped
    assert (lines[created]["status"], lines[watched]["status"]) == ("OK", "UNAVAILABLE")
