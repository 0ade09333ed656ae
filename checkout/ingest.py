"""Streaming ingest: many orders in one stream, one answer per line, in input order, on the streaming runner.

Every transport (NDJSON over HTTP, gRPC ``IngestOrders``) turns its input into :class:`Line` items (or a ready
error answer for a line it cannot read) and its output from the answer dicts ``{idempotencyKey, orderId?,
state?, error?: {code, message}}``. Each line has its own idempotency key, so a resent line is a replay; a line
that fails gets its own error answer and the stream goes on. Admission (how many streams this process serves at
once) is checked by the transport before a stream starts.

A stage worker takes the lines waiting in the intake buffer, up to ``TPFGO_INGEST_BATCH`` at a time, and places
them together through the batched path (``bulk.place_orders``: one transaction per step for the micro-batch, the
same rows and answers as one by one). Where the batched path does not apply (a pipeline a new order reaches writes
aux branches beside its primary; ``TPFGO_ATOMICITY=pipeline``, which the batched path, one transaction per step,
does not keep), or with ``TPFGO_INGEST_BATCH=1``, each line goes alone through ``services.place_order``. If a
micro-batch fails as a whole (a bug, a lost connection), each of its lines is placed again alone: what the batch
stored is replayed, and a line that still fails is answered alone. A line the batch refused at a backlog bound
(``RESOURCE_EXHAUSTED``, nothing stored) is also placed again alone, so the single path's admission policy decides
it.
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

from checkout import bulk, services
from pipelines import (
    Admission,
    Composition,
    InvalidArgument,
    Ready,
    ServiceError,
    Stage,
    Stream,
    WireError,
    admission,
    backlog,
    composition,
    default_workers,
    input_limits,
    outage,
)

log = structlog.get_logger("checkout.ingest")

STREAM = "ingest"
SOURCE = "checkout"  # the pipeline a new order starts
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


def no_order(key: str | None, where: str) -> Ready[dict[str, Any]]:
    """The answer of a line or message that carries no order (or, in NDJSON, one that is no object): the same words
    on every transport; ``where`` is the transport's name for the item (``line 3``, ``message 3``)."""
    return Ready(error(key, "INVALID_ARGUMENT", f"{where}: order is required, an object"))


def place(line: Line) -> dict[str, Any]:
    """Place one line's order; the outer boundary of one line (a database that cannot be reached is this line's
    UNAVAILABLE, as for ``POST /api/v1/orders``; any other unexpected error its INTERNAL)."""
    try:
        placed = _place_when_queues_allow(line)
    except ServiceError as exc:
        return error(line.key, exc.code, exc.message)
    except Exception as exc:  # one line's failure must not end the other lines' stream
        if outage.is_outage(exc):
            log.warning("ingest.database_unavailable", line=line.number, idempotency_key=line.key, error=str(exc))
            return error(line.key, "UNAVAILABLE", f"line {line.number}: {outage.unavailable().message}")
        log.exception("ingest.line_failed", line=line.number, idempotency_key=line.key)
        return error(line.key, "INTERNAL", f"line {line.number}: internal error")
    return {"idempotencyKey": line.key, "orderId": placed.view["orderId"], "state": placed.view["state"]}


def place_many(lines: list[Line]) -> list[dict[str, Any]]:
    """Place a micro-batch of lines through the batched path; one answer per line, in order."""
    try:
        placed = bulk.place_orders([(line.order, line.key) for line in lines], views=False)
    except Exception:  # the batch as a whole failed: each line alone, so only a line that fails again says so
        log.exception("ingest.batch_failed", lines=len(lines), first_line=lines[0].number)
        return [place(line) for line in lines]
    return [place(line) if _refused_for_load(o) else _answer(line, o) for line, o in zip(lines, placed, strict=True)]


def _refused_for_load(outcome: bulk.Answer) -> bool:
    """A new order the batch refused at a backlog bound (nothing stored): the single path decides it again, so
    that a line meets the same admission policy (refuse, or wait for a downstream to drain) on either path."""
    return isinstance(outcome, ServiceError) and outcome.code == "RESOURCE_EXHAUSTED"


def _answer(line: Line, outcome: bulk.Answer) -> dict[str, Any]:
    if isinstance(outcome, ServiceError):
        return error(line.key, outcome.code, outcome.message)
    return {"idempotencyKey": line.key, "orderId": outcome.view["orderId"], "state": outcome.view["state"]}


def micro_batch() -> int:
    return max(1, int(getattr(settings, "TPFGO_INGEST_BATCH", 64)))


def batched_path_applies(spec: Composition, source: str = SOURCE) -> bool:
    """Whether every pipeline that ``source`` hands off to, transitively, can run on the batched path: none writes
    aux branches beside its primary (``BatchEngine`` refuses those with ``ValueError``, and the refusal may come
    after the earlier pipelines of a chain committed, so it is decided before a line is placed)."""
    seen: set[str] = set()
    todo = [spec.pipeline(source)]
    while todo:
        pipeline = todo.pop()
        if pipeline.name in seen:
            continue
        seen.add(pipeline.name)
        if any(step.side_outputs for step in pipeline.steps):
            return False
        publications = [pipeline.output, *(p for step in pipeline.steps for p in step.outcomes.values())]
        todo.extend(s for publication in publications for s in spec.subscribers(publication.name))
    return True


def stage() -> Stage:
    """The placing stage: micro-batches through the batched path where it applies, else one line at a time (also
    when every pipeline must commit whole, ``TPFGO_ATOMICITY=pipeline``: the batched path commits per step)."""
    size = micro_batch()
    if size > 1 and settings.TPFGO_ATOMICITY != "pipeline" and batched_path_applies(composition()):
        return Stage("place", place_many, default_workers(), batch=size)
    return Stage("place", place, default_workers())


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
        return no_order(key, f"line {number}")
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
        raw = _readline(stream, limit + 2)  # the line and its end, LF or CRLF: neither counts against the limit
        if not raw:
            return
        number += 1
        ended = raw.endswith(b"\n")
        content = raw[:-1] if ended else raw
        if len(content.removesuffix(b"\r")) > limit:
            if not ended:
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
    stream: Stream[dict[str, Any]] = Stream(STREAM, [stage()], refuse=refuse)
    return stream.run(items)
