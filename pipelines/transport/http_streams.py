"""NDJSON over HTTP for the streaming routes: the renderer that lets content negotiation accept it, a body
that frees its admission ticket when the response ends (Django closes it then, whether the client read it all or
went away), the request's token checked again while a stream lasts (``still_authenticated``), and a stream that
answers while it reads its request body: the connection closed after it (``close_connection``) and the body's
reader thread out of its read before the server takes the socket back (``BodyReader``)."""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import IO, Any, Protocol

from django.http import StreamingHttpResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from pipelines.transport.wire_errors import WireError

NDJSON = "application/x-ndjson"


class Ticket(Protocol):
    """What a stream holds until it ends (an admission ticket, an opened follow): ``release`` is idempotent."""

    def release(self) -> None: ...


def line(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


class NdjsonRenderer(BaseRenderer):
    """Lets content negotiation accept ``application/x-ndjson``; the stream itself is written by the view."""

    media_type = NDJSON
    format = "ndjson"
    charset = None

    def render(self, data: object, accepted_media_type: str | None = None, renderer_context: object = None) -> bytes:
        return line(data)


class TicketedLines:
    """A streamed NDJSON body of ``answers`` (dicts); closing it closes them and releases ``ticket``."""

    def __init__(self, answers: Iterator[dict[str, Any]], ticket: Ticket) -> None:
        self._answers = answers
        self._ticket = ticket

    def __iter__(self) -> Iterator[bytes]:
        for answer in self._answers:
            yield line(answer)

    def close(self) -> None:
        try:
            close = getattr(self._answers, "close", None)
            if close is not None:
                close()
        finally:
            self._ticket.release()


def server_socket(environ: Mapping[str, Any]) -> socket.socket | None:
    """The client's socket as the server gives it (gunicorn's ``gunicorn.socket``), or None where it gives none (a
    test client, another WSGI server) or it speaks TLS (no peeking or timing under the encryption)."""
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return None
    return sock


def time_limited(environ: Mapping[str, Any], seconds: float) -> None:
    """Bound every read and write on this request's socket (gunicorn's) to ``seconds``: a stream whose client stops
    reading (or, for a streamed body, sending) fails its blocked write or read with ``TimeoutError`` and ends,
    freeing its thread and slot, where gunicorn's threads would wait for good. Nothing changes where the server
    gives no plain socket (:func:`server_socket`), or for ``seconds`` 0 or less."""
    sock = server_socket(environ)
    if sock is not None and seconds > 0:
        sock.settimeout(seconds)


def client_present(environ: Mapping[str, Any]) -> Callable[[], bool]:
    """Whether the client of this request is still connected, asked without blocking and without reading.

    A stream that waits between lines (a follow's heartbeats) would otherwise learn that its client left only at its
    next failed write, holding its admission slot until then. Where the server gives no plain socket
    (:func:`server_socket`), the answer is yes.
    """
    sock = server_socket(environ)
    if sock is None:
        return lambda: True

    def present() -> bool:
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return True
            # The body was read already: readable and no byte to peek means the client closed its side.
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True
        except OSError:  # reset, or closed on our side
            return False

    return present


def still_authenticated(request: Request) -> Callable[[], None]:
    """The request's token checked again as at the start (DRF's token authentication): UNAUTHENTICATED once it was
    revoked or its user deactivated. A long stream asks it as it goes (a follow before each read of the log, an
    ingest stream before placing lines, at most once per ``TPFGO_INGEST_TOKEN_CHECK_SECONDS``)."""
    authenticator, key = request.successful_authenticator, getattr(request.auth, "key", None)
    if not isinstance(authenticator, TokenAuthentication) or not isinstance(key, str):
        return lambda: None  # not a token's request: nothing to check again

    def check() -> None:
        try:
            authenticator.authenticate_credentials(key)
        except AuthenticationFailed as exc:
            raise WireError("UNAUTHENTICATED", str(exc.detail))

    return check


def ndjson_response(body: TicketedLines) -> StreamingHttpResponse:
    """A 200 that streams ``body``, line by line, through any proxy in front."""
    response = StreamingHttpResponse(body, content_type=NDJSON, status=200)
    response["X-Accel-Buffering"] = "no"  # a proxy in front must pass each line on as it is written
    response["Cache-Control"] = "no-store"
    return response


CLOSE_CONNECTION = "tpfgo.close_connection"  # the environ key of the server's "close after this answer"


def closable(application: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``application`` with a way, in its environ, to ask the server to close the connection after the answer
    (:func:`close_connection`), where the server has one: gunicorn's response ``force_close``, which answers
    ``Connection: close`` and closes. An application may not send that hop-by-hop header itself (PEP 3333):
    gunicorn drops it, and Django's development server refuses it."""

    def app(environ: MutableMapping[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
        if callable(force_close):
            environ[CLOSE_CONNECTION] = force_close
        return application(environ, start_response)

    return app


def close_connection(environ: Mapping[str, Any]) -> None:
    """Ask the server to close this connection once the answer is written, where the server offers a way (else
    nothing changes: Django's development server closes after an answer without a length anyway). Asked before the
    answer's headers, they say ``Connection: close``; asked later (a stream that ended before its body did), they
    said ``keep-alive``, and the server closes all the same, as HTTP lets it: kept alive, gunicorn would read and
    discard the rest of the body for as long as the client sends."""
    close = environ.get(CLOSE_CONNECTION)
    if callable(close):
        close()


class BodyReader:
    """A request body that a stream's puller thread reads line by line while the answer is written, and that the
    response's thread closes when the answer ends (:meth:`close`). A stream may end before its body (its token
    revoked, an error): then the connection is closed after the answer (:func:`close_connection`), the server's
    socket is shut for reading, which wakes a read waiting for the client, and ``close`` returns once no read is in
    progress; none starts after. So the reader thread ends, and the server, which takes the socket back when the
    response ends, is the only one to touch it. A body read to its end leaves the connection as it was."""

    def __init__(self, stream: IO[bytes], environ: Mapping[str, Any]) -> None:
        self._stream = stream
        self._environ = environ
        self._reading = threading.Lock()
        self._closed = False
        self.ended = False  # the body was read to its end

    def readline(self, size: int = -1) -> bytes:
        with self._reading:
            if self._closed:
                return b""
            line = self._stream.readline(size)
            self.ended = self.ended or not line
            return line

    def close(self, wait: float = 10.0) -> bool:
        """Stop reading; whether the read in progress, if any, returned within ``wait`` seconds."""
        self._closed = True
        sock = server_socket(self._environ)
        if not self.ended:
            close_connection(self._environ)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:  # the client already closed, or the socket is gone
                    pass
        if not self._reading.acquire(timeout=wait):
            return False
        self._reading.release()
        return True
