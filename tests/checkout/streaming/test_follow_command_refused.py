"""``manage.py follow`` reconnecting: a subscribe refused for now (429 RESOURCE_EXHAUSTED: the process serves its cap
of follows, perhaps still the follower's own dropped connection; 409 ALREADY_EXISTS: another live follow, perhaps
that same connection, holds the subscriber name; 503 UNAVAILABLE) is tried again after its ``Retry-After``; a refusal
that lasts (401, 403, 404, 412) still ends the command; a connection dropped before any position came, or ended by
the server with an error line, is opened again with the same ``--start``."""

import io
import json
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

ITEM = {
    "seq": 7,
    "position": 7,
    "publication": "p.v1",
    "checkpointType": "ReadyOrder",
    "checkpointId": "6f1c0000-0000-0000-0000-000000000001",
    "traceId": "0b9e0000-0000-0000-0000-000000000001",
    "createdAt": "2026-12-04T13:50:12.104215Z",
    "payload": {},
}


def instance(refusals: list[int]) -> Iterator[tuple[str, list[str]]]:
    """A stand-in instance: each subscribe is refused with the next status of ``refusals`` (0: answered 200 with
    no line, a connection dropped before anything came; -1: answered 200 with only an error line, a follow the
    server ended), then streams ITEM."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(f"{self.path} {body.get('start', body.get('position'))}")
            if self.path.endswith("/ack"):
                self.answer(200, json.dumps({"position": body["position"]}).encode() + b"\n")
            elif refusals and refusals[0] == 0:
                refusals.pop(0)
                self.answer(200, b"")
            elif refusals and refusals[0] == -1:
                refusals.pop(0)
                self.answer(200, json.dumps({"error": {"code": "ALREADY_EXISTS", "message": "taken over"}}).encode())
            elif refusals:
                self.answer(refusals.pop(0), b'{"error": {"code": "REFUSED"}}', {"Retry-After": "0"})
            else:
                self.answer(200, json.dumps(ITEM).encode() + b"\n")

        def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def follow(url: str, *extra: str) -> str:
    out = io.StringIO()
    handler = signal.getsignal(signal.SIGTERM)
    try:
        call_command("follow", "p.v1", "--url", url, "--token", "t", "--subscriber", "s", *extra, stdout=out)
    finally:
        signal.signal(signal.SIGTERM, handler)  # the command installs its own
    return out.getvalue()


def test_a_subscribe_refused_for_now_is_tried_again_with_the_same_start():
    for url, seen in instance([429, 409, 503]):
        printed = follow(url, "--start", "now", "--max-items", "1", "--retry-seconds", "0")
        assert [json.loads(line) for line in printed.splitlines()] == [ITEM]
        assert seen == [
            "/api/v1/subscriptions/stream now",
            "/api/v1/subscriptions/stream now",
            "/api/v1/subscriptions/stream now",
            "/api/v1/subscriptions/stream now",
            "/api/v1/subscriptions/ack 7",
        ]


@pytest.mark.parametrize("status", [401, 403, 404, 412])
def test_a_lasting_refusal_ends_the_command(status):
    for url, seen in instance([status]):
        with pytest.raises(CommandError, match=f"subscribe refused: {status}"):
            follow(url, "--max-items", "1", "--retry-seconds", "0")
        assert seen == ["/api/v1/subscriptions/stream acked"]


@pytest.mark.parametrize("start", ["now", "5"])
def test_a_connection_dropped_before_any_position_came_reconnects_with_the_same_start(start):
    for url, seen in instance([0]):
        printed = follow(url, "--start", start, "--max-items", "1", "--retry-seconds", "0")
        assert [json.loads(line) for line in printed.splitlines()] == [ITEM]
        # before: the reconnect asked for start=acked, which for a subscriber that never acknowledged is the log's
        # beginning: everything before --start
        assert seen[:2] == [f"/api/v1/subscriptions/stream {start}"] * 2


def test_a_stream_the_server_ends_with_an_error_line_is_opened_again():
    for url, seen in instance([-1]):  # another follow took the subscriber name over: this one was ended
        printed = follow(url, "--start", "now", "--max-items", "1", "--retry-seconds", "0")
        assert [json.loads(line) for line in printed.splitlines()] == [ITEM]  # before: KeyError 'checkpointId'
        assert seen[:2] == ["/api/v1/subscriptions/stream now"] * 2
