"""The remote error sink over TLS: ``grpcs://`` to the project's own gRPC server serving TLS (a self-signed
certificate made here), ``https://`` trusting ``TPFGO_ERROR_SINK_CA_FILE``, and a certificate the sink does not
trust refused, logged, and the entry kept locally."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from pipelines.failures import sinks
from pipelines.models import ErrorSinkEntry
from pipelines.transport import rpc
from tests.checkout.api import conftest as api_fixtures
from tests.lane import composition as lane
from tests.pipelines.test_error_sink_remote import remote

token, grpc_target = api_fixtures.token, api_fixtures.grpc_target
__all__ = ["remote"]


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (its own root): (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(settings, tmp_path) -> Path:
    """The gRPC server (``grpc_target``, requested after this) serves TLS with a certificate made here; its path."""
    cert_file, key_file = self_signed(tmp_path, "central")
    settings.TPFGO_GRPC_TLS_CERT_FILE, settings.TPFGO_GRPC_TLS_KEY_FILE = str(cert_file), str(key_file)
    return cert_file


def fail_once() -> None:
    lane.FAILURES["index"] = "bug"

    from pipelines.engine.runner import Engine

    Engine(lane.COMPOSITION).start("ingest", {"text": "a"}, "doc-1")


def test_a_failed_step_is_forwarded_over_grpcs_to_a_sink_serving_tls(tls_server, grpc_target, remote, settings, token):
    remote(f"grpcs://{grpc_target}", token)
    settings.TPFGO_ERROR_SINK_CA_FILE = str(tls_server)
    sinks.configured.cache_clear()

    with structlog.testing.capture_logs() as logs:
        fail_once()

    stored = ErrorSinkEntry.objects.get()  # the central sink shares this test database
    assert (stored.source, stored.step, stored.message) == ("edge-1", "index", "index exploded")
    assert [line["event"] for line in logs if line["event"].startswith("error_sink.")] == ["error_sink.forwarded"]


def test_a_sink_whose_certificate_the_ca_file_does_not_sign_is_refused_logged_and_the_entry_kept_locally(
    tls_server, grpc_target, remote, settings, token, tmp_path, capfd
):
    other, _ = self_signed(tmp_path, "other")
    remote(f"grpcs://{grpc_target}", token)
    settings.TPFGO_ERROR_SINK_CA_FILE = str(other)
    sinks.configured.cache_clear()

    with structlog.testing.capture_logs() as logs:
        fail_once()

    stored = ErrorSinkEntry.objects.get()  # nothing reached the central sink: the fallback's local copy only
    assert (stored.source, stored.step) == ("local", "index")
    assert [f'"id": "{stored.id}"' in x for x in capfd.readouterr().err.splitlines() if "error_sink.entry" in x] == [
        True
    ]
    (failed,) = [line for line in logs if line["event"] == "error_sink.forward_failed"]
    assert failed["error"].startswith("UNAVAILABLE: ")
    assert "CERTIFICATE_VERIFY_FAILED" in failed["error"]  # the status and its reason, not the client's repr


def test_a_server_given_a_certificate_without_its_key_refuses_to_build(settings, tmp_path):
    cert_file, _ = self_signed(tmp_path, "central")
    settings.TPFGO_GRPC_TLS_CERT_FILE, settings.TPFGO_GRPC_TLS_KEY_FILE = str(cert_file), ""
    with pytest.raises(ImproperlyConfigured, match="both TPFGO_GRPC_TLS_CERT_FILE and TPFGO_GRPC_TLS_KEY_FILE"):
        rpc.server_credentials()
    settings.TPFGO_GRPC_TLS_KEY_FILE = str(tmp_path / "missing.key")
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        rpc.server_credentials()


@pytest.fixture
def https_sink(tmp_path) -> Iterator[tuple[str, Path, list[dict[str, Any]]]]:
    """An HTTPS server on a free port that takes a forwarded entry as the central sink's route does (201): its URL,
    its certificate, and the bodies it received. The REST route itself is tested in test_error_sink_remote.py."""
    cert_file, key_file = self_signed(tmp_path, "central")
    received: list[dict[str, Any]] = []

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            answer = json.dumps({"id": received[-1]["id"], "created": True}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert_file, received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.django_db
def test_https_trusts_the_ca_file_and_without_it_a_private_certificate_fails_and_is_kept_locally(
    https_sink, remote, settings
):
    url, cert_file, received = https_sink
    remote(url, "any")
    settings.TPFGO_ERROR_SINK_CA_FILE = ""  # the system's roots: they do not sign this certificate
    sinks.configured.cache_clear()
    with structlog.testing.capture_logs() as logs:
        fail_once()
    assert received == [] and ErrorSinkEntry.objects.get().source == "local"
    (failed,) = [line for line in logs if line["event"] == "error_sink.forward_failed"]
    assert "CERTIFICATE_VERIFY_FAILED" in failed["error"]

    settings.TPFGO_ERROR_SINK_CA_FILE = str(cert_file)
    sinks.configured.cache_clear()
    lane.FAILURES["index"] = "bug"
    from pipelines.engine.runner import Engine

    with structlog.testing.capture_logs() as logs:
        Engine(lane.COMPOSITION).start("ingest", {"text": "b"}, "doc-2")
    assert [(body["source"], body["step"]) for body in received] == [("edge-1", "index")]  # before: refused too
    assert [line["event"] for line in logs if line["event"].startswith("error_sink.")] == ["error_sink.forwarded"]
    assert ErrorSinkEntry.objects.count() == 1  # only the first, kept locally
