"""The store: every read and write the engine asks of the database, one named operation each.

The engine (runner, batch, failures, recovery, transports) calls these and builds no SQL of its own; a domain
reaches the few it needs through the public face (``from pipelines import storage``). Behind them:

- ``pipelines/store/writes.py`` and ``batch_writes.py``: a step's rows (checkpoint, owned child rows, lineage
  links, log row), for one item or a batch, and what a conflict means (a replay or a loss);
- ``pipelines/store/postgres.py`` and ``sqlite.py``: the SQL that differs by vendor, chosen from the connection
  (``pipelines/store/vendor.py``);
- ``pipelines/store/fast.py``: the fast paths (prepared tables, row builders, instances without the constructor,
  look-ups compiled once), each proved to give what the ORM gives;
- ``pipelines/store/reads.py``: the request's read scope (facts and reference rows read once per request);
- ``pipelines/store/traces.py``: trace numbers; ``pipelines/store/observers.py``: taps and the commit signal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from pipelines.contracts.steps import StepStatus
from pipelines.models import Checkpoint, CheckpointChild, CheckpointLog, ForkedFrom
from pipelines.store import batch_writes, branches, fast, lookups, observers, reads, traces, waits, writes
from pipelines.store.batch_writes import Entry, Outcome, Plan, Redo, Rows, next_item
from pipelines.store.fast import Table
from pipelines.store.vendor import half

if TYPE_CHECKING:
    from datetime import datetime

    from pipelines.contracts.declarations import Pipeline, Step

__all__ = ["Entry", "Outcome", "Plan", "Redo", "Rows", "Store", "Written", "next_item", "store"]

M = TypeVar("M", bound=Model)
C = TypeVar("C", bound=Checkpoint)
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Written:
    """What writing one item's output did: ``inserted``, or kept out by ``winner`` (``replayed`` or ``lost``)."""

    status: StepStatus
    winner: Checkpoint | None = None


class Store:
    """The engine's storage seam: one method per thing the engine asks of the database."""

    # -- a step's identity and its stored output --------------------------------------------------------------
    def parents_of(self, value: Any, step: Step) -> list[Checkpoint]:
        """The checkpoints a step's output descends from (a merge's sorted by id)."""
        return writes.parents_of(value, step)

    def output_id(self, parents: list[Checkpoint], value: Any, step: Step) -> uuid.UUID:
        """The deterministic id of the step's (first) output for this input."""
        return writes.output_id(parents, value, step)

    def stored_output(self, step: Step, out_id: uuid.UUID, parents: list[Checkpoint]) -> list[Checkpoint]:
        """The step's output already stored for this input (a replay), or ``[]``; a split's children in order."""
        return writes.existing(step, out_id, parents)

    def stored_outputs(self, step: Step, plans: Iterable[Plan]) -> dict[uuid.UUID, list[Checkpoint]]:
        """``stored_output`` for a batch's plans, by output id: one query per table."""
        return batch_writes.existing(step, plans)

    def decides(self, step: Step, event: Mapping[str, Any] | None) -> bool:
        """A command that decides (run with an event, its models declare ``decision_fields``): its output is
        written even when its id is stored, and the stored row says whether it is the same decision."""
        return writes.decides(step, event)

    def new_row(self, model: type[C], fields: Mapping[str, Any]) -> C:
        """``model(**fields)``, built the fast way (``fast.instantiate``)."""
        return fast.instantiate(model, fields)

    def plain_attributes(self, model: type[Checkpoint]) -> bool:
        """Every field of ``model`` is a plain attribute: the engine's columns may be set in one go."""
        return fast.plain_attributes(model)

    def writes_in_one_statement(self, connection: BaseDatabaseWrapper) -> bool:
        """A step's rows go in with one statement, itself a transaction (PostgreSQL): no BEGIN/COMMIT needed."""
        return half(connection).ONE_STATEMENT

    def concurrent_writers(self, connection: BaseDatabaseWrapper) -> bool:
        """Several transactions write at once, so a log seq may become visible before a lower one (PostgreSQL);
        SQLite serializes writers, so a hole in the log is final."""
        return half(connection).CONCURRENT_WRITERS

    # -- writing a step's output ------------------------------------------------------------------------------
    def write_output(
        self,
        spec: Pipeline,
        step: Step,
        rows: Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]],
        parents: list[Checkpoint],
        trace_id: uuid.UUID,
        *,
        decided: bool = False,
    ) -> Written:
        """One item's checkpoints with their child rows, lineage links and log rows, in the caller's transaction.

        A stored unique row keeps them all out: the same id is a replay (for a deciding command, only with the
        same decision), another id with the same business key a loss; nothing is written either way.
        """
        if writes.insert(rows, parents, spec, step, trace_id):
            transaction.on_commit(observers.notify)  # wakes in-process log readers
            return Written(StepStatus.INSERTED)
        winner = writes.winner(step, rows[0][0])
        replayed = writes.replays(winner, rows[0][0], decided)
        return Written(StepStatus.REPLAYED if replayed else StepStatus.LOST, winner)

    def write_batch(self, spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]]) -> dict[Plan, Outcome]:
        """Every plan's rows in one statement; each plan inserted, replayed or lost (``Redo`` if one is partial)."""
        return batch_writes.insert_batch(spec, step, built)

    def write_items(self, spec: Pipeline, step: Step, built: list[tuple[Plan, Rows]]) -> dict[Plan, Outcome]:
        """A batch's plans written item by item, each as ``write_output`` writes it."""
        return batch_writes.insert_one(spec, step, built)

    def winner_of(self, step: Step, row: Checkpoint) -> Checkpoint:
        """The stored checkpoint that holds ``row``'s id or business key (``IntegrityError`` if none does)."""
        return writes.winner(step, row)

    def tap(self, pipeline: str, step: str, rows: Sequence[tuple[Checkpoint, Sequence[CheckpointChild]]]) -> None:
        """Show a step's output to the mid-step taps, before it is written (best effort)."""
        observers.emit_taps(pipeline, step, rows)

    def commit_count(self) -> int:
        """How many step commits this process has seen (the log readers' wake-up counter)."""
        return observers.commit_count()

    def wait_for_commit(self, seen: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for a commit after the ``seen``-th; the count now."""
        return observers.wait_for_commit(seen, timeout)

    # -- lineage branches (forks) -----------------------------------------------------------------------------
    def on_branch(self, branch: str) -> AbstractContextManager[None]:
        """While a step runs: its reads see ``branch``'s view (``branches.Running``)."""
        return branches.Running(branch)

    def branch_id(self, plain: uuid.UUID, branch: str) -> uuid.UUID:
        """A checkpoint id on ``branch``: the plain id on the main branch, one derived from it on a fork."""
        return branches.branch_id(plain, branch)

    def branch_in_view(self, trace_id: uuid.UUID) -> str:
        """The branch a trace is shown on: its newest fork's, else the main branch."""
        return branches.view(trace_id)

    def on_view(self, trace_id: uuid.UUID, branch: str, candidates: Iterable[C]) -> C | None:
        """Of one kind's rows for one key (one per branch), the one ``branch``'s view sees."""
        return branches.pick(trace_id, branch, candidates)

    def forks(self, trace_id: uuid.UUID) -> list[ForkedFrom]:
        """The trace's forks, oldest first."""
        return branches.forks(trace_id)

    def active_branch(self, trace_id: uuid.UUID) -> str:
        """The branch a trace runs on now: its newest fork's, else the main branch."""
        return branches.active(trace_id)

    def branches_of(self, rows: Sequence[CheckpointLog]) -> dict[uuid.UUID, str]:
        """The branch of each logged checkpoint, by checkpoint id."""
        return branches.branches_of(rows)

    def visible_log(self, trace_id: uuid.UUID, branch: str, rows: Sequence[CheckpointLog]) -> list[CheckpointLog]:
        """The log rows ``branch``'s view holds."""
        return branches.visible_log(trace_id, branch, rows)

    def effect_key(self, base: str, trace_id: uuid.UUID, branch: str | None = None) -> str:
        """The idempotency key an external effect sends on ``branch`` (default: the branch running now); a fork
        reuses its parent's unless it opted in to keys of its own."""
        return branches.effect_key(base, trace_id, branch)

    # -- waits (deadlines) ------------------------------------------------------------------------------------
    def wait_opened(
        self, spec: Pipeline, step: Step, value: object, trace_id: uuid.UUID, key: str, now: datetime
    ) -> None:
        """The step answered ``AWAIT``: open its wait (once; an open wait keeps its first deadline)."""
        waits.opened(spec, step, value, trace_id, key, now)

    def wait_claimed(self, spec: Pipeline, step: Step, value: object, now: datetime) -> bool:
        """The event's side of its race with the deadline: end the open round as resolved (False: lost)."""
        return waits.claim(spec, step, value, now)

    # -- exact-match reads ------------------------------------------------------------------------------------
    def rows(self, model: type[M], *, order_by: Sequence[str] = (), limit: int | None = None, **equals: Any) -> list[M]:
        """``model.objects.filter(**equals).order_by(*order_by)[:limit]`` for equality filters, compiled once."""
        return lookups.rows(model, order_by=order_by, limit=limit, **equals)

    def first(self, model: type[M], *, order_by: Sequence[str] = (), **equals: Any) -> M | None:
        """The first of ``rows``, or ``None``."""
        return lookups.first(model, order_by=order_by, **equals)

    def table(self, model: type[Model], connection: BaseDatabaseWrapper, *, with_pk: bool = False) -> Table:
        """The prepared table of ``model``: its rows as the database takes them (the benchmark clones rows)."""
        return fast.table(model, connection, with_pk=with_pk)

    # -- traces -----------------------------------------------------------------------------------------------
    def trace_number(self, trace_id: uuid.UUID | str) -> int | None:
        """The trace's number, or ``None`` before its first checkpoint."""
        return traces.number_of(trace_id)

    def trace_numbers(self, trace_ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, int]:
        """The numbers of those traces that have one (known to the read scope, or read in one query)."""
        return traces.stored_numbers(trace_ids)

    # -- the request's read scope -----------------------------------------------------------------------------
    def read_scope(self) -> AbstractContextManager[reads.Scope]:
        """Open a read scope for one request (or join the one already open)."""
        return reads.scope()

    def scoped(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Run ``fn`` (an application service) inside a read scope."""
        return reads.scoped(fn)

    def current_scope(self) -> reads.Scope | None:
        return reads.current()

    def batch_step(self, keys: Sequence[str]) -> AbstractContextManager[reads.Scope | None]:
        """While one step runs over a batch: a fact read for one key is loaded for every key."""
        return reads.batch_step(keys)

    def all_fresh(self, parents: Iterable[Checkpoint]) -> bool:
        """Every parent was inserted by this scope, so nothing can be stored for them yet."""
        return reads.all_fresh(parents)

    def remember(self, rows: Iterable[Checkpoint]) -> None:
        """Keep committed checkpoints for the rest of the request."""
        reads.remember(rows)

    def fact(self, model: type[C], key: str, load: Callable[[Sequence[str]], Iterable[C]]) -> C | None:
        """The fact of ``model`` with business key ``key``, read once per scope (``load(keys)`` reads them)."""
        return reads.fact(model, key, load)

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """A prepared look-up, computed once per scope."""
        return reads.memo(key, compute)

    def step_memo(self, key: Any, compute: Callable[[], T]) -> T:
        """A look-up shared by the items of one batch step."""
        return reads.step_memo(key, compute)

    def pending(self) -> list[Any]:
        """The outputs produced so far by the batch step in progress (``(model, fields)`` pairs)."""
        return reads.pending()


store = Store()
