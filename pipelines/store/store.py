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
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max, Model

from pipelines.contracts.steps import StepStatus
from pipelines.models import Checkpoint, CheckpointChild, CheckpointLog, ForkedFrom
from pipelines.store import (
    batch_writes,
    branches,
    durability,
    fast,
    lookups,
    observers,
    outputs,
    reads,
    traces,
    waits,
    writes,
)
from pipelines.store.batch_writes import Entry, Outcome, Plan, Redo, Rows, next_item
from pipelines.store.fast import Table
from pipelines.store.postgres import StalePlan
from pipelines.store.vendor import half

if TYPE_CHECKING:
    from datetime import datetime

    from pipelines.contracts.declarations import Pipeline, Step

__all__ = ["Entry", "Outcome", "Plan", "Redo", "Rows", "StalePlan", "Store", "Written", "next_item", "store"]

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
    """The engine's storage seam: one method per thing the engine asks of the database.

    An operation that only names a function of the modules behind the seam is that function (``staticmethod``):
    the engine calls most of them once or more per step, and a wrapper would add a call each time.
    """

    # -- a step's identity and its stored output --------------------------------------------------------------
    # The checkpoints a step's output descends from (a merge's sorted by id).
    parents_of = staticmethod(writes.parents_of)
    # The deterministic id of the step's (first) output for this input.
    output_id = staticmethod(writes.output_id)
    # ``parents_of`` and ``output_id`` for every entry of a batch step: its plans.
    plans = staticmethod(batch_writes.plans)
    # The step's output already stored for this input (a replay), or ``[]``; a split's children in order.
    stored_output = staticmethod(writes.existing)
    # ``stored_output`` for a batch's plans, by output id: one query per table.
    stored_outputs = staticmethod(batch_writes.existing)
    # A command that decides (run with an event, its models declare ``decision_fields``): its output is written even
    # when its id is stored, and the stored row says whether it is the same decision.
    decides = staticmethod(writes.decides)
    # ``model(**fields)``, built the fast way (``fast.instantiate``), once the fields fit the model (a field it
    # lacks or a required one left out is a ``ContractError`` naming them).
    new_row = staticmethod(outputs.output_row)
    # Every field of ``model`` is a plain attribute: the engine's columns may be set in one go.
    plain_attributes = staticmethod(fast.plain_attributes)

    def writes_in_one_statement(self, connection: BaseDatabaseWrapper) -> bool:
        """A step's rows go in with one statement, itself a transaction (PostgreSQL): no BEGIN/COMMIT needed."""
        return half(connection).ONE_STATEMENT

    def transaction_aborted(self, connection: BaseDatabaseWrapper) -> bool:
        """An error aborted the transaction open on ``connection`` (PostgreSQL): nothing runs in it until it ends."""
        return half(connection).transaction_aborted(connection)

    def concurrent_writers(self, connection: BaseDatabaseWrapper) -> bool:
        """Several transactions write at once, so a log seq may become visible before a lower one (PostgreSQL);
        SQLite serializes writers, so a hole in the log is final."""
        return half(connection).CONCURRENT_WRITERS

    def log_seqs_issued(self, connection: BaseDatabaseWrapper) -> int:
        """The highest checkpoint log seq ever handed out, even when the retention purge has removed that entry
        since (the log's head then is lower): no position a subscriber was given can be above it. Never below the
        head (a table whose key is no counter of its own, on SQLite: the head is all that is known)."""
        issued = half(connection).seqs_issued(connection, CheckpointLog._meta.db_table, "seq")
        head = CheckpointLog.objects.aggregate(head=Max("seq"))["head"] or 0
        return max(issued, int(head))

    # -- durability (docs/architecture.md, "Durability") ----------------------------------------------------
    # One engine run: its commits may be asynchronous (``TPFGO_DURABILITY="boundary"``), durable when it ends.
    relaxed = staticmethod(durability.relaxed)
    # Everything committed so far is durable: call it right before anything leaves the process (an external
    # effect, a publication); nothing to do when every commit is synchronous.
    durable = staticmethod(durability.durable)

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

    # Every plan's rows in one statement; each plan inserted, replayed or lost (``Redo`` if one is partial).
    write_batch = staticmethod(batch_writes.insert_batch)
    # A batch's plans written item by item, each as ``write_output`` writes it.
    write_items = staticmethod(batch_writes.insert_one)

    def winner_of(self, step: Step, row: Checkpoint) -> Checkpoint:
        """The stored checkpoint that holds ``row``'s id or business key (``IntegrityError`` if none does)."""
        return writes.winner(step, row)

    # Show a step's output to the mid-step taps, before it is written (best effort).
    tap = staticmethod(observers.emit_taps)

    def commit_count(self) -> int:
        """How many step commits this process has seen (the log readers' wake-up counter)."""
        return observers.commit_count()

    def wait_for_commit(self, seen: int, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for a commit after the ``seen``-th; the count now."""
        return observers.wait_for_commit(seen, timeout)

    # -- lineage branches (forks) -----------------------------------------------------------------------------
    # While a step runs: its reads see ``branch``'s view (``branches.Running``).
    on_branch = staticmethod(branches.Running)
    # A checkpoint id on ``branch``: the plain id on the main branch, one derived from it on a fork.
    branch_id = staticmethod(branches.branch_id)
    # The branch a trace is shown on: its newest fork's, else the main branch.
    branch_in_view = staticmethod(branches.view)
    # Of one kind's rows for one key (one per branch), the one ``branch``'s view sees.
    on_view = staticmethod(branches.pick)

    def forks(self, trace_id: uuid.UUID) -> list[ForkedFrom]:
        """The trace's forks, oldest first."""
        return branches.forks(trace_id)

    # The branch a trace runs on now: its newest fork's, else the main branch.
    active_branch = staticmethod(branches.active)

    def branches_of(self, rows: Sequence[CheckpointLog]) -> dict[uuid.UUID, str]:
        """The branch of each logged checkpoint, by checkpoint id."""
        return branches.branches_of(rows)

    # The log rows ``branch``'s view holds.
    visible_log = staticmethod(branches.visible_log)
    # The idempotency key an external effect sends on ``branch`` (default: the branch running now); a fork reuses its
    # parent's unless it opted in to keys of its own.
    effect_key = staticmethod(branches.effect_key)
    # A key on ``branch``: the key itself on the main branch, ``<key>:<branch>`` off it.
    branch_key = staticmethod(branches.branch_key)

    # -- waits (deadlines) ------------------------------------------------------------------------------------
    def wait_opened(
        self,
        spec: Pipeline,
        step: Step,
        value: object,
        trace_id: uuid.UUID,
        key: str,
        now: datetime,
        branch: str | None = None,
    ) -> None:
        """The step answered ``AWAIT`` on ``branch`` (None: its input's own): open its wait (once; an open wait
        keeps its first deadline)."""
        waits.opened(spec, step, value, trace_id, key, now, branch)

    def wait_claimed(self, spec: Pipeline, step: Step, value: object, now: datetime, branch: str | None = None) -> bool:
        """The event's side of its race with the deadline: end the open round of the wait on ``branch`` as resolved
        (False: lost)."""
        return waits.claim(spec, step, value, now, branch)

    # -- exact-match reads ------------------------------------------------------------------------------------
    # ``model.objects.filter(**equals).order_by(*order_by)[:limit]`` for equality filters, compiled once.
    rows = staticmethod(lookups.rows)
    # The first of ``rows``, or ``None``.
    first = staticmethod(lookups.first)
    # ``rows`` of several ``(model, equals, order_by, limit)`` look-ups, in one round trip on PostgreSQL.
    rows_together = staticmethod(lookups.rows_together)
    # ``rows_together`` sent with the request's next group of look-ups (``lookups.read_along``).
    read_along = staticmethod(lookups.read_along)

    def table(self, model: type[Model], connection: BaseDatabaseWrapper, *, with_pk: bool = False) -> Table:
        """The prepared table of ``model``: its rows as the database takes them (the benchmark clones rows)."""
        return fast.table(model, connection, with_pk=with_pk)

    # -- traces -----------------------------------------------------------------------------------------------
    # The trace's number, or ``None`` before its first checkpoint.
    trace_number = staticmethod(traces.number_of)
    # The numbers of those traces that have one (known to the read scope, or read in one query).
    trace_numbers = staticmethod(traces.stored_numbers)
    # A request's first reads of a trace in one round trip: its number, its forks and the look-ups given.
    read_with_trace = staticmethod(traces.read_with)

    # -- the request's read scope -----------------------------------------------------------------------------
    def read_scope(self) -> AbstractContextManager[reads.Scope]:
        """Open a read scope for one request (or join the one already open)."""
        return reads.scope()

    def scoped(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Run ``fn`` (an application service) inside a read scope."""
        return reads.scoped(fn)

    current_scope = staticmethod(reads.current)
    # While one step runs over a batch: a fact read for one key is loaded for every key.
    batch_step = staticmethod(reads.batch_step)
    # Every parent was inserted by this scope, so nothing can be stored for them yet.
    all_fresh = staticmethod(reads.all_fresh)
    # Keep committed checkpoints for the rest of the request.
    remember = staticmethod(reads.remember)
    # The fact of ``model`` with business key ``key``, read once per scope (``load(keys)`` reads them).
    fact = staticmethod(reads.fact)
    # A prepared look-up, computed once per scope.
    memo = staticmethod(reads.memo)
    # A look-up shared by the items of one batch step.
    step_memo = staticmethod(reads.step_memo)
    # The outputs produced so far by the batch step in progress (``(model, fields)`` pairs).
    pending = staticmethod(reads.pending)


store = Store()
