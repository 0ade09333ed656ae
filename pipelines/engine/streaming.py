"""Streaming: demand in bounded batches, bounded hand-offs, explicit overflow.

A :class:`Stream` pulls a source iterator only while its intake buffer has room (demand is granted in batches of
``batch_size``), hands each item through one bounded buffer per stage, and yields one result per source item, in
source order. Nothing here is unbounded: the intake and every hand-off buffer hold at most ``capacity`` items, the
ordered output window at most ``capacity + batch_size`` more plus what the workers hold, so a slow downstream slows
the producer.

Overflow is explicit and applies at intake, before a stage has stored anything: ``block`` (the default) makes the
puller wait, so the source is not read (TCP or HTTP/2 flow control then reaches the client); ``reject`` answers an
item that finds the intake full with ``refuse(item)`` at once. Hand-offs between stages always block, because an
item past the first stage may already have stored something.

A stage may take its items in micro-batches (``Stage(batch=n)``): a worker takes what its inbox holds, up to ``n``
items, without waiting for more, so a trickle still goes one item at a time and a full buffer goes ``n`` at a
time. Each item keeps its own slot, so results still leave in source order, one per item.

The module knows nothing of orders: callers supply the stage functions. Admission (how many streams a process
serves at once) and the per-process gauges live in :mod:`pipelines.engine.stream_gauges`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import structlog
from django.conf import settings
from django.db import connections

from pipelines.engine import stream_gauges
from pipelines.engine.stream_gauges import Admission, admission, gauges
from pipelines.store.store import store

__all__ = [
    "POLICIES",
    "Admission",
    "Buffer",
    "Cancelled",
    "Overflow",
    "Ready",
    "Stage",
    "Stream",
    "admission",
    "default_batch_size",
    "default_capacity",
    "default_policy",
    "default_workers",
    "gauges",
    "with_log_context",
]


def with_log_context(target: Callable[..., None]) -> Callable[..., None]:
    """``target``, to run in a new thread with the log context of the thread that calls this (a request's
    ``request_id``): the new thread's lines name the request. Only structlog's: another context variable (a
    request-scoped cache) is not for sharing between threads."""
    bound = structlog.contextvars.get_contextvars()

    def run(*args: object) -> None:
        structlog.contextvars.bind_contextvars(**bound)
        target(*args)

    return run


Policy = Literal["block", "reject"]
POLICIES: tuple[Policy, ...] = ("block", "reject")
R = TypeVar("R")
_END = object()  # the end of a buffer's items


class Overflow(Exception):
    """A ``reject`` buffer was full: the item was refused before any stage saw it."""


class Cancelled(Exception):
    """The stream was closed (the client went away): blocked puts and gets give up."""


@dataclass(frozen=True)
class Ready(Generic[R]):
    """A source item or stage output that already has its result (a bad line): later stages are skipped."""

    result: R


@dataclass(frozen=True)
class Stage:
    """One stage: ``fn`` turns an item into the next stage's item, or into the result at the last stage.

    ``workers`` threads run it side by side (its in-flight limit); results still come out in source order. With
    ``batch`` above 1, ``fn`` takes a list of up to ``batch`` items and returns one value per item, in order (a
    worker holds at most ``batch`` items: the in-flight limit is ``workers × batch``).
    """

    name: str
    fn: Callable[[Any], Any]
    workers: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"stage {self.name!r}: batch must be at least 1, not {self.batch}")


def default_capacity() -> int:
    return int(getattr(settings, "TPFGO_BUFFER_CAPACITY", 128))


def default_policy() -> Policy:
    policy = str(getattr(settings, "TPFGO_OVERFLOW_POLICY", "block"))
    if policy not in POLICIES:
        raise ValueError(f"TPFGO_OVERFLOW_POLICY must be one of {POLICIES}, not {policy!r}")
    return policy


def default_batch_size() -> int:
    return int(getattr(settings, "TPFGO_STREAM_BATCH_SIZE", 32))


def default_workers() -> int:
    """``TPFGO_STREAM_WORKERS``, else 1 on SQLite (its writers serialize) and 4 on PostgreSQL."""
    configured = getattr(settings, "TPFGO_STREAM_WORKERS", None)
    if configured:
        return max(1, int(configured))
    return 4 if store.concurrent_writers(connections["default"]) else 1


class Buffer:
    """A bounded FIFO hand-off. ``put`` waits for room (``block``) or raises :class:`Overflow` (``reject``)."""

    def __init__(self, stream: str, name: str, capacity: int, policy: Policy = "block") -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be at least 1, not {capacity}")
        if policy not in POLICIES:
            raise ValueError(f"unknown overflow policy {policy!r}; expected one of {POLICIES}")
        self.stream, self.name, self.capacity, self.policy = stream, name, capacity, policy
        self._items: deque[Any] = deque()
        self.peak = 0  # the most items it has held: at its capacity, the intake waited (backpressure)
        self._cond = threading.Condition()
        self._closed = False
        self._ended = False

    @property
    def queued(self) -> int:
        return len(self._items)

    def free(self) -> int:
        return max(0, self.capacity - len(self._items))

    def put(self, item: object) -> None:
        with self._cond:
            while len(self._items) >= self.capacity and not self._closed:
                if self.policy == "reject":
                    raise Overflow(f"{self.stream}/{self.name}: buffer full ({self.capacity} items, policy reject)")
                self._cond.wait()
            if self._closed:
                raise Cancelled(self.name)
            self._items.append(item)
            self.peak = max(self.peak, len(self._items))
            self._cond.notify_all()

    def wait_for_room(self, wanted: int) -> int:
        """Block until at least ``wanted`` slots are free; return how many are (the demand granted)."""
        with self._cond:
            while self.free() < wanted and not self._closed:
                self._cond.wait()
            if self._closed:
                raise Cancelled(self.name)
            return self.free()

    def end(self) -> None:
        """No more items will come: once the queued ones are taken, ``get`` returns the end marker."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def get(self) -> Any:
        """The next item, or the end marker; raises :class:`Cancelled` once the buffer is closed."""
        taken = self.take(1)
        return taken if taken is _END else taken[0]

    def take(self, most: int) -> Any:
        """Up to ``most`` items, at least one (waiting for it), or the end marker; never waits to fill a batch."""
        with self._cond:
            while not self._items and not self._ended and not self._closed:
                self._cond.wait()
            if self._closed:
                raise Cancelled(self.name)
            if not self._items:
                return _END
            taken = [self._items.popleft() for _ in range(min(most, len(self._items)))]
            self._cond.notify_all()
            return taken

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()


@dataclass(frozen=True)
class _Failed:
    """A stage raised for this item: :meth:`Stream.run` re-raises it when the item's turn comes."""

    error: BaseException


class _Slot:
    """One source item's place in the output order, resolved by whichever side finishes it."""

    __slots__ = ("_done", "error", "result")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def resolve(self, result: object) -> None:
        self.result = result
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._done.set()

    def wait(self, closed: threading.Event) -> None:
        while not self._done.wait(0.5):
            if closed.is_set():
                raise Cancelled("stream closed")


class Stream(Generic[R]):
    """A source, its stages and their buffers; iterate :meth:`run` to pull results in source order.

    ``refuse(item)`` builds the result of an item refused at intake under ``reject``. A stage function should
    turn its expected failures into results itself; an exception it raises ends the stream when its slot is
    reached (after every earlier result was yielded), and is re-raised there.
    """

    def __init__(
        self,
        name: str,
        stages: Sequence[Stage],
        *,
        refuse: Callable[[Any], R],
        capacity: int | None = None,
        policy: Policy | None = None,
        batch_size: int | None = None,
    ) -> None:
        if not stages:
            raise ValueError("a stream needs at least one stage")
        self.name = name
        self.stages = tuple(stages)
        self.refuse = refuse
        self.capacity = capacity if capacity is not None else default_capacity()
        self.policy: Policy = policy if policy is not None else default_policy()
        self.batch_size = max(1, batch_size if batch_size is not None else default_batch_size())
        self.buffers = [
            Buffer(name, stage.name, self.capacity, self.policy if index == 0 else "block")
            for index, stage in enumerate(self.stages)
        ]
        # The ordered output window: one slot per pulled item, so refusals wait their turn in bounded memory.
        workers = sum(max(1, stage.workers) * stage.batch for stage in self.stages)
        self._window = Buffer(name, "output", self.capacity + self.batch_size + workers, "block")
        self.inflight = [0] * len(self.stages)
        self._running = [max(1, stage.workers) for stage in self.stages]
        self._lock = threading.Lock()
        self.pulled = self.refused = 0
        self._closed = threading.Event()
        self._source_error: BaseException | None = None
        self._threads: list[threading.Thread] = []

    # -- the consumer side ------------------------------------------------------------------------------------
    def run(self, source: Iterable[Any]) -> Generator[R, None, None]:
        """Start the puller and the stage workers, then yield each item's result in source order."""
        stream_gauges.track(self)
        try:
            self._start(source)
            while True:
                slot = self._window.get()
                if slot is _END:
                    break
                slot.wait(self._closed)
                if slot.error is not None:
                    raise slot.error
                yield slot.result
            if self._source_error is not None:
                raise self._source_error
        finally:
            self.close()

    def close(self) -> None:
        """Stop pulling and wake every blocked thread; an item a stage is running finishes first."""
        if self._closed.is_set():
            return
        self._closed.set()
        for buffer in (*self.buffers, self._window):
            buffer.close()
        stream_gauges.untrack(self)

    # -- the producer side ------------------------------------------------------------------------------------
    def _start(self, source: Iterable[Any]) -> None:
        self._spawn(f"{self.name}-pull", self._pull, source)
        for index, stage in enumerate(self.stages):
            for number in range(max(1, stage.workers)):
                self._spawn(f"{self.name}-{stage.name}-{number}", self._work, index)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=with_log_context(target), args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _pull(self, source: Iterable[Any]) -> None:
        intake = self.buffers[0]
        demand = 0
        try:
            iterator = iter(source)
            while not self._closed.is_set():
                if demand == 0 and self.policy == "block":
                    # Demand is granted in batches: wait for a batch's worth of room, then read that many.
                    batch = min(self.batch_size, self.capacity)
                    demand = min(batch, intake.wait_for_room(batch))
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                self.pulled += 1
                demand = max(0, demand - 1)
                self._admit(item, intake)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001  (re-raised by run() once every admitted item is answered)
            self._source_error = exc
        intake.end()
        try:
            self._window.end()
        except Cancelled:
            return

    def _admit(self, item: object, intake: Buffer) -> None:
        slot = _Slot()
        self._window.put(slot)
        if isinstance(item, Ready):
            slot.resolve(item.result)
            return
        try:
            intake.put((slot, item))
        except Overflow:
            self.refused += 1
            stream_gauges.count_refused(self.name)
            slot.resolve(self.refuse(item))

    def _work(self, index: int) -> None:
        stage, inbox = self.stages[index], self.buffers[index]
        outbox = self.buffers[index + 1] if index + 1 < len(self.stages) else None
        try:
            while True:
                entries = inbox.take(stage.batch)
                if entries is _END:
                    self._worker_done(index, outbox)
                    return
                with self._lock:
                    self.inflight[index] += len(entries)
                try:
                    values = self._call(stage, entries)
                finally:
                    with self._lock:
                        self.inflight[index] -= len(entries)
                for (slot, _), value in zip(entries, values, strict=True):
                    if isinstance(value, _Failed):
                        slot.fail(value.error)
                    elif isinstance(value, Ready):
                        slot.resolve(value.result)
                    elif outbox is None:
                        slot.resolve(value)
                    else:
                        outbox.put((slot, value))
        except Cancelled:
            return
        finally:
            connections.close_all()  # this thread's connections only

    @staticmethod
    def _call(stage: Stage, entries: list[tuple[_Slot, Any]]) -> list[Any]:
        """The stage's values for ``entries``, one each; an exception becomes every taken item's failure."""
        items = [item for _, item in entries]
        try:
            if stage.batch == 1:
                return [stage.fn(items[0])]
            values = list(stage.fn(items))
            if len(values) != len(items):
                raise ValueError(f"stage {stage.name!r} returned {len(values)} values for {len(items)} items")
            return values
        except Exception as exc:  # noqa: BLE001  (re-raised by run() when the first of these items' turn comes)
            return [_Failed(exc)] * len(items)

    def _worker_done(self, index: int, outbox: Buffer | None) -> None:
        """The last worker of a stage to see the end passes it on, so no item can follow the end marker."""
        with self._lock:
            self._running[index] -= 1
            last = self._running[index] == 0
        if last and outbox is not None:
            outbox.end()
