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

import itertools
import json
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from django.conf import settings

from checkout import bulk, messages, services
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
    key_name: str = "idempotencyKey"  # what the client called the key: errors name it so


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


def too_long(where: str, limit: int | None = None) -> Ready[dict[str, Any]]:
    """The answer of a line or message over the bound of one order, ``TPFGO_API_MAX_BODY_BYTES``: the bound of a
    ``POST /api/v1/orders`` body and a ``CreateOrder`` message, so an order one transport takes, every transport
    takes. The same words on every transport; ``where`` is the transport's name for the item."""
    bound = limit or input_limits.max_body_bytes()
    return Ready(error(None, "INVALID_ARGUMENT", f"{where}: longer than {bound} bytes"))


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
        return error(line.key, exc.code, messages.renamed(exc, line.key_name).message)
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
        return error(line.key, outcome.code, messages.renamed(outcome, line.key_name).message)
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


class Readable(Protocol):
    """What the reader reads lines from: a request body, a file, ``pipelines.BodyReader``."""

    def readline(self, size: int = -1, /) -> bytes: ...


def _readline(stream: Readable, size: int) -> bytes:
    try:
        return stream.readline(size)
    except OSError as exc:  # gunicorn's NoMoreData, Django's UnreadablePostError, a reset socket
        raise BodyBroken(f"the request body ended abnormally: {type(exc).__name__}") from exc


def ndjson_lines(stream: Readable, max_bytes: int | None = None) -> Iterator[Line | Ready[dict[str, Any]]]:
    """Read NDJSON lazily, one line at a time; a line longer than ``max_bytes`` (by default the bound of one order,
    ``TPFGO_API_MAX_BODY_BYTES``, as an ``IngestOrders`` message) is skipped with an error answer (:func:`too_long`).

    A WSGI server's input may read ahead in blocks (gunicorn: 1 KiB), so a client that trickles lines sees its
    answers in small groups; for a line-by-line conversation use gRPC ``IngestOrders``.
    """
    limit = max_bytes or input_limits.max_body_bytes()
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
            yield too_long(f"line {number}", limit)
            continue
        if raw.strip():  # blank lines (a trailing newline, keep-alives) get no answer
            yield decode(raw, number)


def _skip_rest(stream: Readable, limit: int) -> None:
    while True:
        chunk = _readline(stream, limit)
        if not chunk or chunk.endswith(b"\n"):
            return


class TokenRevoked(WireError):
    """The stream's token was revoked, or its user deactivated, while it streamed: the lines answered before are
    done, the others were not placed. Its message starts with the token check's own words (``Invalid token.``)."""

    def __init__(self, message: str) -> None:
        super().__init__("UNAUTHENTICATED", message)


_UNPLACED = object()  # the result of a line not placed because the token was found revoked: it gets no answer


class TokenWatch:
    """The caller's token checked again as the stream places lines, as a follow checks it before each read.

    Before a worker places a line or a micro-batch, the token is checked if the last check is at least
    ``TPFGO_INGEST_TOKEN_CHECK_SECONDS`` old (the request's own check, when the stream started, is the first): the
    cost is a query per interval, not per line. The check runs under a lock every worker passes before placing, so
    once one check found the token revoked, no line starts being placed; a line a worker was already placing is
    finished and answered. The source then reads no more lines, and :meth:`answered` ends the stream with
    :class:`TokenRevoked`. A check the database cannot answer answers its lines UNAVAILABLE (nothing stored) and is
    asked again before the next.
    """

    def __init__(self, authenticated: Callable[[], None], *, every: float | None = None) -> None:
        self._authenticated = authenticated
        self._every = float(getattr(settings, "TPFGO_INGEST_TOKEN_CHECK_SECONDS", 1)) if every is None else every
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._revoked: ServiceError | None = None
        self._read = 0  # items the stream took from its source: each has its place among the results

    def source(self, items: Iterable[Any]) -> Iterator[Any]:
        """``items`` until the token is found revoked: no line is read after that, and one being read (the client's
        next) enters the stream no more."""
        iterator = iter(items)
        while self._revoked is None:
            try:
                item = next(iterator)
            except StopIteration:
                return
            with self._lock:
                if self._revoked is not None:
                    return
                self._read += 1
            yield item

    def placing(self, fn: Callable[[Any], Any], *, batch: bool) -> Callable[[Any], Any]:
        """The stage function ``fn`` (one line, or a list of lines when ``batch``), behind the check."""

        def guarded(taken: Any) -> Any:
            lines: list[Line] = taken if batch else [taken]
            refused = self._refusal(lines)
            if refused is None:
                return fn(taken)
            return refused if batch else refused[0]

        return guarded

    def _refusal(self, lines: list[Line]) -> list[Any] | None:
        """None when ``lines`` may be placed, else their results (not placed: the token revoked, or no check)."""
        with self._lock:
            if self._revoked is None and time.monotonic() - self._checked >= self._every:
                try:
                    self._authenticated()
                except ServiceError as exc:
                    self._revoked = exc
                    log.warning("ingest.token_revoked", line=lines[0].number, lines_read=self._read, error=exc.message)
                except Exception as exc:
                    if not outage.is_outage(exc):
                        raise
                    log.warning("ingest.database_unavailable", line=lines[0].number, error=str(exc))
                    message = outage.unavailable().message
                    return [error(line.key, "UNAVAILABLE", f"line {line.number}: {message}") for line in lines]
                else:
                    self._checked = time.monotonic()
            return None if self._revoked is None else [_UNPLACED] * len(lines)

    def answered(self, results: Generator[Any, None, None], ended: str) -> Generator[dict[str, Any], None, None]:
        """The answers of ``results`` in order; once the token was found revoked, the answers of the lines still
        being placed, then :class:`TokenRevoked` (``ended`` follows its detail: what the client should know)."""
        try:
            taken = 0
            for result in results:
                taken += 1
                if result is not _UNPLACED:
                    yield result
                    continue
                with self._lock:  # the source takes no more items: each of these has its result coming
                    rest = self._read - taken
                yield from (later for later in itertools.islice(results, rest) if later is not _UNPLACED)
                detail = self._revoked.message if self._revoked is not None else ""
                raise TokenRevoked(f"{detail} {ended}")
        finally:
            results.close()


def answers(
    items: Iterable[Line | Ready[dict[str, Any]]],
    authenticated: Callable[[], None] = lambda: None,
    *,
    ended: str = "The stream is ended; the lines answered before are done, the others were not placed.",
) -> Generator[dict[str, Any], None, None]:
    """The answer of every item, in order, through a bounded stream (capacity and policy from settings).

    ``authenticated`` is the transport's check of the caller's token (raising UNAUTHENTICATED once it was revoked),
    asked again as lines are placed (:class:`TokenWatch`)."""
    watch = TokenWatch(authenticated)
    placing = stage()
    guarded = Stage(placing.name, watch.placing(placing.fn, batch=placing.batch > 1), placing.workers, placing.batch)
    stream: Stream[Any] = Stream(STREAM, [guarded], refuse=refuse)
    return watch.answered(stream.run(watch.source(items)), ended)
