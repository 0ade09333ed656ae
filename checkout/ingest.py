"""Streaming ingest: many orders in one stream, one answer per line, in input order, on the streaming runner.

Every transport (NDJSON over HTTP, gRPC ``IngestOrders``) turns its input into :class:`Line` items (or a ready
error answer for a line it cannot read) and its output from the answer dicts ``{idempotencyKey, orderId?,
state?, error?: {code, message}}``. Each line is placed through ``services.place_order`` with its own
idempotency key, so a resent line is a replay; a line that fails gets its own error answer and the stream goes
on. Admission (how many streams this process serves at once) is checked by the transport before a stream starts.
A queue downstream at its backlog bound slows the stream instead of refusing its lines: the line waits (and with
it, through the bounded buffers, the stream's reader and its client) up to ``TPFGO_INGEST_BACKLOG_WAIT_SECONDS``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import structlog
from django.conf import settings

from checkout import services
from pipelines import (
    Admission,
    InvalidArgument,
    Ready,
    ServiceError,
    Stage,
    Stream,
    WireError,
    admission,
    backlog,
    default_workers,
    input_limits,
)

log = structlog.get_logger("checkout.ingest")

STREAM = "ingest"
FIELDS = frozenset({"idempotencyKey", "order"})


@dataclass(frozen=True)
class Line:
    """One order of a stream: its idempotency key, the order body (as ``POST /api/v1/orders`` takes it)."""

    number: int
    key: str | None
    order: Any


def gate() -> Admission:
    return admission(STREAM, int(getattr(settings, "TPFGO_INGEST_MAX_STREAMS", 4)))


def admit() -> Any:
    """A ticket for one more stream in this process, or RESOURCE_EXHAUSTED (429 / RetryInfo) when full."""
    ticket = gate().try_enter()
    if ticket is None:
        gate_ = gate()
        raise WireError(
            "RESOURCE_EXHAUSTED",
            f"this process already serves {gate_.capacity} ingest streams; retry later or use another instance",
            retry_after=float(getattr(settings, "TPFGO_INGEST_RETRY_AFTER", 1)),
        )
    return ticket


def error(key: str | None, code: str, message: str) -> dict[str, Any]:
    return {"idempotencyKey": key, "error": {"code": code, "message": message}}


def place(line: Line) -> dict[str, Any]:
    """Place one line's order; the outer boundary of one line (an unexpected error is this line's INTERNAL)."""
    try:
        placed = _place_when_queues_allow(line)
    except ServiceError as exc:
        return error(line.key, exc.code, exc.message)
    except Exception:  # one line's bug must not end the other lines' stream
        log.exception("ingest.line_failed", line=line.number, idempotency_key=line.key)
        return error(line.key, "INTERNAL", f"line {line.number}: internal error")
    return {"idempotencyKey": line.key, "orderId": placed.view["orderId"], "state": placed.view["state"]}


def _place_when_queues_allow(line: Line) -> services.Placed:
    """Place the line; while a downstream queue is at its bound, wait its ``Retry-After`` and try again, for up to
    ``TPFGO_INGEST_BACKLOG_WAIT_SECONDS`` in all (then the line is answered RESOURCE_EXHAUSTED, nothing stored)."""
    budget = float(getattr(settings, "TPFGO_INGEST_BACKLOG_WAIT_SECONDS", 30))
    while True:
        try:
            return services.place_order(line.order, line.key)
        except backlog.QueueBacklogFull as full:
            if full.retry_after > budget:
                raise
            budget -= full.retry_after
            time.sleep(full.retry_after)


def refuse(line: Line) -> dict[str, Any]:
    """A line that found the buffer full under the ``reject`` policy: nothing was stored; resend it later."""
    message = f"line {line.number}: the ingest buffer is full; nothing was stored, resend this line"
    return error(line.key, "RESOURCE_EXHAUSTED", message)


def decode(raw: bytes, number: int) -> Line | Ready[dict[str, Any]]:
    """One NDJSON line → a :class:`Line`, or the ready error answer of a line that cannot be read."""
    try:
        data = input_limits.loads(raw, where=f"line {number}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Ready(error(None, "INVALID_ARGUMENT", f"line {number}: not a JSON object"))
    except InvalidArgument as exc:
        return Ready(error(None, "INVALID_ARGUMENT", f"line {number}: {exc.message}"))
    if not isinstance(data, dict):
        return Ready(error(None, "INVALID_ARGUMENT", f"line {number}: not a JSON object"))
    return from_data(data, number)


def from_data(data: dict[str, Any], number: int) -> Line | Ready[dict[str, Any]]:
    key = data.get("idempotencyKey")
    key = key if isinstance(key, str) else None
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        return Ready(error(key, "INVALID_ARGUMENT", f"line {number}: unknown fields {', '.join(unknown)}"))
    if not isinstance(data.get("order"), dict):
        return Ready(error(key, "INVALID_ARGUMENT", f"line {number}: order must be a JSON object"))
    return Line(number, key, data["order"])


class BodyBroken(ConnectionError):
    """The request body ended abnormally (the client went away): every line read before it is still answered."""


def _readline(stream: IO[bytes], size: int) -> bytes:
    try:
        return stream.readline(size)
    except OSError as exc:  # gunicorn's NoMoreData, Django's UnreadablePostError, a reset socket
        raise BodyBroken(f"the request body ended abnormally: {type(exc).__name__}") from exc


def ndjson_lines(stream: IO[bytes], max_bytes: int | None = None) -> Iterator[Line | Ready[dict[str, Any]]]:
    """Read NDJSON lazily, one line at a time; a line longer than ``max_bytes`` is skipped with an error answer.

    A WSGI server's input may read ahead in blocks (gunicorn: 1 KiB), so a client that trickles lines sees its
    answers in small groups; for a line-by-line conversation use gRPC ``IngestOrders``.
    """
    limit = max_bytes or int(getattr(settings, "TPFGO_INGEST_MAX_LINE_BYTES", 65536))
    number = 0
    while True:
        raw = _readline(stream, limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            _skip_rest(stream, limit)
            yield Ready(error(None, "INVALID_ARGUMENT", f"line {number}: longer than {limit} bytes"))
            continue
        if raw.strip():  # blank lines (a trailing newline, keep-alives) get no answer
            yield decode(raw, number)


def _skip_rest(stream: IO[bytes], limit: int) -> None:
    while True:
        chunk = _readline(stream, limit)
        if not chunk or chunk.endswith(b"\n"):
            return


def answers(items: Iterable[Line | Ready[dict[str, Any]]]) -> Generator[dict[str, Any], None, None]:
    """The answer of every item, in order, through a bounded stream (capacity and policy from settings)."""
    stream: Stream[dict[str, Any]] = Stream(STREAM, [Stage("place", place, default_workers())], refuse=refuse)
    return stream.run(items)
