"""2,000 orders through the real NDJSON route on a gunicorn process, into a deliberately slow downstream.

The server's peak RSS may grow by less than 50 MiB from the first 100 answers to the end (memory is bounded by
the buffer, not by the stream), and every order completes exactly once. About 45 s on PostgreSQL (4 workers)
and longer on SQLite (one writer); ``bench.ingest_backpressure`` runs 20,000. The figures are printed (``pytest -s``).
"""

import http.client
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from bench.ingest_harness import Server, counts, manage, order_lines, prepare, run
from tests.checkout.facts import completed_order_rows

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SLOW = {
    "TPFGO_PAYMENT_GATEWAY": "bench.slow_gateway.SlowGateway",
    "TPFGO_BENCH_CAPTURE_DELAY_MS": "15",  # slower than the intake, whatever the engine's speed
    "TPFGO_BUFFER_CAPACITY": "128",
    "TPFGO_OVERFLOW_POLICY": "block",
}


def server_database(tmp_path: Path) -> tuple[str, bool]:
    """The URL the server process uses, and whether it must be migrated first."""
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}", False
    return f"sqlite:///{tmp_path / 'ingest.sqlite3'}", True  # the in-memory test database cannot be shared


def test_a_long_stream_into_a_slow_downstream_keeps_memory_flat_and_completes_every_order_once(tmp_path):
    orders = 2000
    url, migrate = server_database(tmp_path)
    token = prepare(url, migrate=migrate)
    with Server(url, tmp_path / "gunicorn.log", **SLOW) as server:
        figures = run(server, token, orders, prefix="memory")
    rows = counts(url)
    print(f"\n{connection.vendor}: {orders} orders\n{figures.report()}\nrows: {rows}")

    assert figures.status == 200
    assert figures.states == {"COMPLETED": orders} and figures.errors == {}
    assert figures.peak_growth_mib < 50
    # Backpressure reached the buffer: the intake got well ahead of the slow downstream (more than half the
    # buffer queued, by its own high-water mark) and never beyond its capacity. How close to full it gets depends
    # on how fast the client's lines arrive: on a loaded machine the intake reads them slower than it fills.
    assert figures.buffer_capacity == 128
    assert 64 < figures.buffer_peak <= 128
    assert 0 < figures.max_buffer_queued <= 128
    assert rows["order_requests"] == rows["terminal_states"] == orders
    per_order = completed_order_rows()  # ORDER has one line
    assert rows["log_rows_per_order"] == [per_order] and rows["log_rows"] == per_order * orders
    assert rows["error_sink_entries"] == rows["parked"] == 0


def admission_active(server: Server) -> float:
    for line in server.get("/metrics")[1].splitlines():
        if line.startswith('tpfgo_stream_admission_active{gate="ingest"'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def open_stream(server: Server, token: str, prefix: str) -> tuple[socket.socket, Any]:
    """A chunked ingest request with eight lines (more than gunicorn's 1 KiB read block), its body left open; the
    socket to send more of it on (a copy: http.client lets go of its own once it reads that the server closes),
    and the response."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.putrequest("POST", "/api/v1/orders/ingest")
    for name, value in (("Authorization", f"Token {token}"), ("Content-Type", "application/x-ndjson")):
        connection.putheader(name, value)
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    assert connection.sock is not None
    sender = connection.sock.dup()
    send_chunk(sender, b"".join(order_lines(8, prefix)))
    return sender, connection.getresponse()


def send_chunk(sender: socket.socket, data: bytes) -> None:
    sender.sendall(b"%x\r\n%s\r\n" % (len(data), data))


def test_on_the_real_server_a_second_stream_gets_429_and_a_client_that_goes_away_frees_its_slot(tmp_path):
    url, migrate = server_database(tmp_path)
    token = prepare(url, migrate=migrate)
    with Server(url, tmp_path / "gunicorn.log", TPFGO_INGEST_MAX_STREAMS="1", **SLOW) as server:
        first, answer = open_stream(server, token, "gone")
        lines = b"".join(order_lines(8, "gone"))
        assert json.loads(answer.readline())["state"] == "COMPLETED"

        second = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        second.request(
            "POST", "/api/v1/orders/ingest", body=lines,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/x-ndjson"},
        )  # fmt: skip
        refused = second.getresponse()
        assert (refused.status, refused.getheader("Retry-After")) == (429, "1")
        assert json.loads(refused.read())["error"]["code"] == "RESOURCE_EXHAUSTED"

        first.shutdown(socket.SHUT_RDWR)  # the client goes away mid-stream
        answer.close()
        first.close()
        deadline = time.monotonic() + 15
        while admission_active(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert admission_active(server) == 0
    # The answered line is stored; lines left without an answer may or may not be (resend them with their keys).
    assert 1 <= counts(url)["order_requests"] <= 8


def test_on_the_real_server_a_stream_that_goes_idle_is_ended_and_frees_its_slot(tmp_path):
    url, migrate = server_database(tmp_path)
    token = prepare(url, migrate=migrate)
    idle = {"TPFGO_INGEST_MAX_STREAMS": "1", "TPFGO_INGEST_IDLE_SECONDS": "2"}
    with Server(url, tmp_path / "gunicorn.log", **idle) as server:
        idler, answer = open_stream(server, token, "idle")  # then nothing: the body stays open
        answers = [json.loads(raw) for raw in iter(answer.readline, b"")]  # until the server ends the stream

        # Every line the server read was answered, then the stream ended, saying why (a line still in gunicorn's
        # read block has no answer: the client resends it with its key).
        *placed, ended = answers
        assert 1 <= len(placed) <= 8 and {a.get("state") for a in placed} == {"COMPLETED"}, answers
        assert ended["error"]["code"] == "DEADLINE_EXCEEDED", ended
        assert ended["error"]["message"].startswith("no byte came for 2 s: the stream is ended")
        deadline = time.monotonic() + 15
        while admission_active(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert admission_active(server) == 0
        answer.close()
        idler.close()

        again = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        second = b"".join(order_lines(1, "after"))
        again.request(
            "POST", "/api/v1/orders/ingest", body=second,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/x-ndjson"},
        )  # fmt: skip
        admitted = again.getresponse()
        assert admitted.status == 200 and json.loads(admitted.readline())["state"] == "COMPLETED"
    assert counts(url)["order_requests"] == len(placed) + 1


def test_on_the_real_server_a_stream_ended_before_its_body_closes_the_connection_and_frees_its_slot(tmp_path):
    """A stream whose token is revoked while its client still sends ends with its UNAUTHENTICATED line, then the
    server closes the connection instead of reading and discarding the rest of the body for as long as the client
    sends (it kept the connection alive, and went on reading). Its body's reader leaves its read
    (``pipelines.BodyReader``), the slot is freed, and the next stream is served."""
    url, migrate = server_database(tmp_path)
    token = prepare(url, migrate=migrate)
    settings = {"TPFGO_INGEST_MAX_STREAMS": "1", "TPFGO_INGEST_TOKEN_CHECK_SECONDS": "0"}
    with Server(url, tmp_path / "gunicorn.log", **settings) as server:
        sender, answer = open_stream(server, token, "revoked")
        assert json.loads(answer.readline())["state"] == "COMPLETED"
        manage(url, "revoke_token", "bench")
        chunk = b"".join(order_lines(8, "after"))
        send_chunk(sender, chunk)  # its first line finds the token revoked
        answers = [json.loads(raw) for raw in iter(answer.readline, b"")]  # the stream ends, the body does not
        assert answers and answers[-1]["error"]["code"] == "UNAUTHENTICATED", answers
        try:  # the client goes on sending, until the server closes the connection
            for _ in range(32 * 1024):  # some 64 MiB: a server that reads and discards the body takes it all
                send_chunk(sender, chunk)
        except (ConnectionResetError, BrokenPipeError):
            pass
        else:
            raise AssertionError("the server read some 64 MiB more of a body whose stream had ended")
        assert {a.get("state") for a in answers[:-1]} <= {"COMPLETED"}
        deadline = time.monotonic() + 15
        while admission_active(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert admission_active(server) == 0
        answer.close()
        sender.close()

        token = prepare(url, migrate=False)  # a new key for the same principal
        again = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        again.request(
            "POST", "/api/v1/orders/ingest", body=b"".join(order_lines(1, "next")),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/x-ndjson"},
        )  # fmt: skip
        admitted = again.getresponse()
        assert admitted.status == 200 and json.loads(admitted.readline())["state"] == "COMPLETED"
        log = (tmp_path / "gunicorn.log").read_text()
        assert "Traceback" not in log and "ingest.reader_still_reading" not in log, log
