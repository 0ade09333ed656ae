"""``POST /api/v1/orders/ingest``: NDJSON in, NDJSON out, streamed in input order, with admission and backpressure.

The token is checked first (as on every route), then the call shape (protobuf-over-HTTP cannot stream: 501), the
media type (415), and admission (this process's ingest capacity: 429 with ``Retry-After``). An admitted stream
answers 200 at once and writes one line per input line as each is decided; the body is read lazily, only as
fast as orders are placed, so a slow downstream slows the client instead of filling memory.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import IO, Any, cast

import structlog
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request

from checkout import ingest
from checkout.api import schema
from checkout.api.base import ApiView
from checkout.api.protobuf import answers_in_protobuf, content_type, speaks_protobuf
from pipelines import (
    NDJSON,
    BodyReader,
    NdjsonRenderer,
    TicketedLines,
    WireError,
    ndjson_line,
    ndjson_response,
    still_authenticated,
    time_limited,
)

log = structlog.get_logger("checkout.api")
BODY_TYPES = frozenset({NDJSON, "application/jsonl"})


class AnswerLines(TicketedLines):
    """The streamed body; closing it (Django does when the response ends) stops the stream, waits for the request
    body's reader to leave its read (``BodyReader``: the stream may have ended before the body, its token revoked)
    and frees its slot."""

    def __init__(self, answers: Generator[dict[str, Any], None, None], ticket: Any, body: BodyReader) -> None:
        super().__init__(answers, ticket)
        self._stream = answers
        self._body = body

    def close(self) -> None:
        try:
            self._stream.close()  # the stream stops: its puller reads no further line
            if not self._body.close():
                log.warning("ingest.reader_still_reading", seconds=10)
        finally:
            super().close()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from super().__iter__()
        except ingest.BodyBroken as exc:
            # Every line read before the break was answered; the client is most likely gone.
            log.warning("ingest.body_broken", error=str(exc))
            if isinstance(exc.__cause__, TimeoutError):  # idle past TPFGO_INGEST_IDLE_SECONDS: say so, if it listens
                idle = f"{settings.TPFGO_INGEST_IDLE_SECONDS:g}"
                message = f"no byte came for {idle} s: the stream is ended; the lines answered above are done"
                yield ndjson_line(ingest.error(None, "DEADLINE_EXCEEDED", message))
        except ingest.TokenRevoked as exc:  # every line placed before it was answered above; the rest were not
            yield ndjson_line(ingest.error(None, exc.code, exc.message))


def idle_limit(request: HttpRequest) -> None:
    """End the stream of a client that neither sends nor reads for ``TPFGO_INGEST_IDLE_SECONDS``: the server's socket
    (gunicorn's) gets that timeout, so a read waiting for the next line, or a write waiting for the client to take
    an answer, fails with ``TimeoutError`` (``ingest.BodyBroken``) and the slot is freed. Without it, a few idle
    connections held every ingest slot of the process. Elsewhere (a test client, TLS in gunicorn) nothing changes."""
    time_limited(request.META, float(settings.TPFGO_INGEST_IDLE_SECONDS))


def body_stream(request: HttpRequest) -> IO[bytes]:
    """The request body as a stream: a chunked upload (no Content-Length) is read from the server's own input."""
    meta = request.META
    if not meta.get("CONTENT_LENGTH") and meta.get("wsgi.input_terminated"):
        stream: IO[bytes] = meta["wsgi.input"]
        return stream
    return cast(IO[bytes], request)  # an HttpRequest reads its body like a file


class IngestView(ApiView):
    """Place many orders in one stream: one `{idempotencyKey, order}` per line in, one answer per line out, in order.

    Each answer is `{idempotencyKey, orderId, state}` or `{idempotencyKey, error: {code, message}}`; a bad line
    gets its own error line and the stream goes on. Under the `reject` overflow policy a line that finds the
    buffer full is answered `RESOURCE_EXHAUSTED` (nothing stored; resend it with the same key). Once the token is
    revoked (checked again at most every `TPFGO_INGEST_TOKEN_CHECK_SECONDS`), no line is placed any more and the
    stream ends with a last line `{idempotencyKey: null, error: {code: UNAUTHENTICATED, message}}`."""

    renderer_classes = [NdjsonRenderer]
    bounded_body = False  # each line is bounded as one order is, by TPFGO_API_MAX_BODY_BYTES

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        self.perform_authentication(request)
        self.check_permissions(request)
        # A client that sends protobuf or would rather have it (by Accept's q) than JSON: this route answers neither.
        if speaks_protobuf(request) or answers_in_protobuf(request):
            raise WireError(
                "UNIMPLEMENTED",
                "protobuf-over-HTTP does not support the streaming route POST /api/v1/orders/ingest (a stream of "
                "orders answered by a stream); send application/x-ndjson, or call gRPC OrderService/IngestOrders",
            )
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="ingestOrders",
        tags=["orders"],
        summary="Place many orders in one NDJSON stream (answers streamed in input order)",
        request={NDJSON: OpenApiTypes.STR},
        responses={
            **schema.responses({}, (*schema.COMMON, 415)),  # bounded line by line, not by its size
            200: OpenApiResponse(OpenApiTypes.STR, description="NDJSON: one answer per input line, in order"),
            429: OpenApiResponse(description="RESOURCE_EXHAUSTED: ingest streams full (Retry-After)"),
        },
    )
    def post(self, request: Request) -> StreamingHttpResponse:
        if content_type(request) not in BODY_TYPES:
            raise WireError(
                "INVALID_ARGUMENT", f"send the orders as {NDJSON}, one JSON object per line", http_status=415
            )
        ticket = ingest.admit()
        try:
            idle_limit(request._request)
            reader = BodyReader(body_stream(request._request), request.META)
            lines = ingest.ndjson_lines(reader)
            body = AnswerLines(ingest.answers(lines, still_authenticated(request)), ticket, reader)
        except BaseException:
            ticket.release()
            raise
        return ndjson_response(body)
