"""Request-scoped reads: checkpoints already seen or written, prepared reference look-ups, batch loading.

A checkpoint never changes once committed, so a request may keep every checkpoint it read or inserted and
answer "the trace's fact of this kind" from memory for the rest of the request. Within a scope:

- ``facts`` holds committed checkpoints by (model, business key), for the scope's whole life (insert-only
  makes that safe). The engine adds what it inserts when the inserting transaction commits, never before.
- ``memo`` holds prepared look-ups (reference rows, a menu) for the scope's whole life: one request sees one
  version of the reference data, the same way a checkpoint snapshots it.
- ``keys`` and ``absent`` exist only while the batch engine runs one step over a batch: a miss then loads the
  fact for every key of the batch at once, and remembers which keys have none until the step ends.

Without a scope every call reads the database, exactly as before.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from pipelines.models import Checkpoint

T = TypeVar("T")
C = TypeVar("C", bound=Checkpoint)
P = ParamSpec("P")


@dataclass
class Scope:
    facts: dict[tuple[type[Checkpoint], str], Checkpoint] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    key_set: frozenset[str] = frozenset()  # ``keys``, to ask whether a key is one of the batch's
    absent: set[tuple[type[Checkpoint], str]] = field(default_factory=set)
    # Outputs produced so far by the batch step in progress, for a rule that must see its batch-mates.
    pending: list[Any] = field(default_factory=list)
    # Ids (as integers: a UUID hashes in Python) of the checkpoints this scope inserted and saw committed:
    # nothing can descend from them yet.
    fresh: set[int] = field(default_factory=set)
    step_memo: dict[Any, Any] = field(default_factory=dict)
    # Trace numbers and creation times (pipelines.store.traces) seen committed: neither ever changes.
    traces: dict[Any, tuple[int, datetime.datetime]] = field(default_factory=dict)
    # Look-ups waiting to ride with the scope's next group of look-ups (pipelines.store.lookups.read_along).
    along: list[Any] = field(default_factory=list)

    def remember(self, rows: Iterable[Checkpoint], *, fresh: bool = False) -> None:
        facts, absent, ids = self.facts, self.absent, self.fresh
        for row in rows:
            key = (type(row), row.business_key)
            facts[key] = row
            if absent:
                absent.discard(key)
            if fresh:
                ids.add(row.id.int)


_current: ContextVar[Scope | None] = ContextVar("tpfgo_read_scope", default=None)


def current() -> Scope | None:
    return _current.get()


@contextmanager
def scope() -> Iterator[Scope]:
    """Open a read scope for one request (or join the one already open)."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    opened = Scope()
    token = _current.set(opened)
    try:
        yield opened
    finally:
        _current.reset(token)


def scoped(fn: Callable[P, T]) -> Callable[P, T]:
    """Run ``fn`` (an application service entry point) inside a read scope: one scope per request."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with scope():
            return fn(*args, **kwargs)

    return wrapper


@contextmanager
def batch_step(keys: Sequence[str]) -> Iterator[Scope | None]:
    """While one step runs over a batch: misses load every key of the batch; negatives last until the end."""
    opened = _current.get()
    if opened is None:
        yield None
        return
    opened.keys, opened.absent, opened.pending, opened.step_memo = tuple(keys), set(), [], {}
    opened.key_set = frozenset(opened.keys)
    try:
        yield opened
    finally:
        opened.keys, opened.absent, opened.pending, opened.step_memo = (), set(), [], {}
        opened.key_set = frozenset()


def remember(rows: Iterable[Checkpoint]) -> None:
    """Keep committed checkpoints (found by a replay look-up, or inserted and committed) for this request."""
    opened = _current.get()
    if opened is not None:
        opened.remember(rows)


def fact(model: type[C], key: str, load: Callable[[Sequence[str]], Iterable[C]]) -> C | None:
    """The fact of ``model`` with business key ``key``; ``load(keys)`` reads the stored facts for those keys."""
    opened = _current.get()
    if opened is None:
        return next(iter(load([key])), None)
    found = opened.facts.get((model, key))
    if found is not None:
        return found  # type: ignore[return-value]
    if (model, key) in opened.absent:
        return None
    keys = opened.keys if key in opened.key_set else (key,)
    rows = list(load(keys))
    opened.remember(rows)
    if opened.keys:  # negatives are kept only while one batch step runs
        opened.absent.update((model, k) for k in keys if (model, k) not in opened.facts)
    hit = opened.facts.get((model, key))
    return hit  # type: ignore[return-value]


def memo(key: Any, compute: Callable[[], T]) -> T:
    """A prepared look-up, computed once per scope (or on every call without one)."""
    opened = _current.get()
    if opened is None:
        return compute()
    if key not in opened.memo:
        opened.memo[key] = compute()
    value: T = opened.memo[key]
    return value


def all_fresh(parents: Iterable[Checkpoint]) -> bool:
    """Every parent was inserted by this scope, so no step output can exist for them yet."""
    opened = _current.get()
    if opened is None:
        return False
    fresh = opened.fresh
    return all(parent.id.int in fresh for parent in parents)


def step_memo(key: Any, compute: Callable[[], T]) -> T:
    """A look-up shared by the items of one batch step (computed on every call outside a batch step)."""
    opened = _current.get()
    if opened is None or not opened.keys:
        return compute()
    if key not in opened.step_memo:
        opened.step_memo[key] = compute()
    value: T = opened.step_memo[key]
    return value


def pending() -> list[Any]:
    opened = _current.get()
    return opened.pending if opened is not None else []
