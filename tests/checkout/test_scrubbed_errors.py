"""A gateway's error that quotes the payment token it was handed: the error sink, a dead letter, the log lines, a
remote sink, the order view and a step's span get the token's hint, never the token (``pipelines.failures.scrub``,
the finder ``checkout.personal.payment_tokens_to_hide``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from checkout import services
from pipelines.failures import sinks
from pipelines.models import ErrorSinkEntry, ParkedItem, ParkingOutcome
from tests.checkout.erasure_helpers import captured_logs, make_consumer, personal_body, tables_holding_personal_text
from tests.tracing import step_spans

pytestmark = pytest.mark.django_db

TOKEN = "tok_live_Zq8VxEchoed4242"
HINT = "…4242"
ECHOING = "tests.checkout.recording_gateway.EchoingGateway"


class _Central(BaseHTTPRequestHandler):
    """A central error sink on a port: keeps each body it is sent, answers as the project's sink does."""

    bodies: list[bytes]

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        answer = json.dumps({"id": json.loads(self.bodies[-1])["id"], "created": True}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads the bodies
        return


@pytest.fixture
def central(settings) -> Iterator[list[bytes]]:
    """Every sink on: the database, stderr, and a remote sink forwarding over HTTP to ``_Central``."""
    bodies: list[bytes] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Central", (_Central,), {"bodies": bodies}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TPFGO_ERROR_SINKS = [sinks.DATABASE, sinks.STDERR, "pipelines.failures.sinks.RemoteSink"]
    settings.TPFGO_ERROR_SINK_URL = f"http://127.0.0.1:{server.server_port}"
    settings.TPFGO_ERROR_SINK_TOKEN = "central-key"
    sinks.configured.cache_clear()
    try:
        yield bodies
    finally:
        server.shutdown()
        server.server_close()
        sinks.configured.cache_clear()


@pytest.fixture
def echoing(settings, demo_data):
    settings.TPFGO_PAYMENT_GATEWAY = ECHOING
    settings.TPFGO_RETRY_POLICIES = {"consumer-validation.payment_authorized": {"max_attempts": 1}}  # dead at once
    make_consumer()


def test_a_gateway_error_quoting_the_token_is_stored_logged_parked_and_forwarded_with_its_hint(
    echoing, central, capsys
):
    with captured_logs() as logs:
        view = services.place_order(personal_body(paymentToken=TOKEN), "zed-echo").view
        captured = capsys.readouterr()  # the stderr sink's line
        lines = logs() + captured.err + captured.out

    entry = ErrorSinkEntry.objects.get()
    assert (entry.step, entry.error_code) == ("payment_authorized", "UNEXPECTED")
    assert entry.message == f'gateway answered 402: {{"error": {{"param": "source", "value": "{HINT}"}}}}'
    assert f"source={HINT}: connection reset" in entry.traceback and entry.message in entry.traceback
    outcome = ParkingOutcome.objects.get(parked=ParkedItem.objects.get())
    assert (outcome.reason, outcome.last_error) == ("retry_exhausted", f"RuntimeError: {entry.message}")
    assert view["stalled"]["message"] == entry.message
    # The stderr sink's line, and every other log line, name the hint, never the token.
    sink_line = next(json.loads(line) for line in captured.err.splitlines() if '"error_sink.entry"' in line)
    assert (sink_line["message"], sink_line["traceback"]) == (entry.message, entry.traceback)
    assert TOKEN not in lines and "error_sink.forwarded" in lines
    # What the central sink was sent, byte for byte.
    assert len(central) == 1 and TOKEN.encode() not in central[0]
    sent = json.loads(central[0])
    assert (sent["message"], sent["traceback"]) == (entry.message, entry.traceback)
    assert tables_holding_personal_text((TOKEN,)) == {}  # sealed wherever it is stored


def test_a_token_on_file_the_order_took_is_hidden_too(echoing, central, capsys):
    from checkout.models import Consumer

    Consumer.objects.filter(pk="zed").update(payment_token=TOKEN)

    services.place_order(personal_body(), "zed-on-file")

    entry = ErrorSinkEntry.objects.get()
    assert HINT in entry.message and TOKEN not in entry.message + entry.traceback
    assert TOKEN.encode() not in central[0]
    assert TOKEN not in ParkingOutcome.objects.get().last_error


def test_a_failed_steps_span_names_the_exception_not_its_text(echoing, settings, spans, capsys):
    settings.TPFGO_ATOMICITY = "pipeline"  # the failure leaves the step's span as an exception, rolling back

    services.place_order(personal_body(paymentToken=TOKEN), "zed-span")

    entry = ErrorSinkEntry.objects.get()  # the pipeline rolled back whole: parked at its first step
    assert entry.step == "payment_authorized" and HINT in entry.traceback and TOKEN not in entry.traceback
    failed = [s for s in step_spans(spans) if s.attributes["tpfgo.step"] == "payment_authorized"]
    assert len(failed) == 1
    span = failed[0]
    assert [(e.name, dict(e.attributes)) for e in span.events] == [
        ("exception", {"exception.type": "builtins.RuntimeError", "tpfgo.error_code": "UNEXPECTED"})
    ]
    assert span.status.description == "builtins.RuntimeError"
    exported = "".join(s.to_json() for s in spans.get_finished_spans())
    assert TOKEN not in exported
