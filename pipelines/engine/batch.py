"""The batched execution path, for streams and bulk replays: each step runs over a batch in one transaction.

``BatchEngine(composition).start_many("ingest", [(payload, key), ...])`` gives every item exactly the rows
the single-item path (``pipelines.engine.runner``) would: the same deterministic ids, checkpoints, owned child rows,
lineage links and log rows, the same statuses (inserted, replayed, lost, awaiting, skipped, failed) and the
same hand-offs to subscribers. What differs is how they are written:

- per step, one ``transaction.atomic(durable=True)`` for the whole batch; ``process()`` runs per item inside
  it, then every row goes in with one statement (``Store.write_batch``: ``ON CONFLICT DO NOTHING``, the
  dependent rows only for the checkpoints actually inserted);
- a checkpoint that was not inserted met a unique row: the same id is a replay, another id with the same
  business key means the item lost to that winner (not an error), exactly as in the single path;
- an item whose ``process()`` raises is set aside (one error-sink entry and parking through
  ``failures.record``, after the batch's transaction) and never blocks its batch-mates; if the batch's
  statement fails, or a step raised a database error, the batch is redone item by item, each in its own
  transaction with the single path's savepoint-and-winner logic (a ``StalePlan`` there runs the item's
  transaction once more, as the single path does);
- a database error before the transaction fails items the same way: in the batch's replay look-up every item
  of the batch, in an item's pause check that item;
- replay look-ups are one query per table for the batch, skipped for items whose input this run inserted;
- the store's read scope is open for the run: a fact read by one item's step is loaded for the whole batch.

Items of one batch see the database as of their step, plus (through ``store.pending()``) the outputs their
batch-mates produced earlier in the same step, for a rule that must count them (checkout: a courier's load).
A step with an external effect may call it again when a batch is redone item by item: external effects are
keyed by the item (the single path's retries rely on the same property). The batched path always commits
per step over the batch (there is no per-pipeline mode here).
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import structlog
from django.db import DatabaseError, transaction

from pipelines.contracts import ids
from pipelines.contracts.declarations import Composition, Pipeline, Publication, Step
from pipelines.contracts.steps import Await, Command, Execution, Item, Skip, StepContext, StepResult, StepStatus
from pipelines.engine import metrics, pauses, queues
from pipelines.engine.runner import Engine, build_rows, caller_transaction_aborted
from pipelines.failures import holds
from pipelines.failures.record import record as record_failure
from pipelines.models import MAIN_BRANCH, QueuedHandoff
from pipelines.store import clock
from pipelines.store.store import Entry, Outcome, Plan, Redo, Rows, StalePlan, next_item, store

log = structlog.get_logger("pipelines.batch")

# As in the single path: a failed, awaiting or paused item stops; an inserted or replayed one hands its output on.
_STOPS = frozenset({StepStatus.FAILED, StepStatus.AWAITING, StepStatus.PAUSED})
_GOES_ON = frozenset({StepStatus.INSERTED, StepStatus.REPLAYED})


class BatchEngine:
    def __init__(self, composition: Composition, *, batch_size: int = 500) -> None:
        self.composition = composition
        self.batch_size = batch_size
        self.single = Engine(composition)  # its pipelines as the engine runs them (a mapper applied)

    # -- entry points -------------------------------------------------------------------------------------
    def start_many(self, pipeline: str, commands: Sequence[tuple[Mapping[str, Any], str]]) -> list[Execution]:
        """Run a source pipeline on many ``(payload, key)`` commands; one ``Execution`` per command, in order.

        A key seen twice runs after the first, so the second is a replay exactly as it would be one by one.
        """
        spec = self.single.pipeline(pipeline)
        if spec.source_namespace is None:
            raise ValueError(f"pipeline {pipeline!r} is not a source pipeline")
        entries = []
        for origin, (payload, key) in enumerate(commands):
            root = ids.deterministic_id(spec.source_namespace, key)
            entries.append(Entry(origin, Item(Command(root, payload), root, key)))
        return self._run(spec, 0, entries, len(commands))

    def run_many(
        self,
        pipeline: str,
        values: Sequence[Any],
        *,
        step: str | None = None,
        event: Mapping[str, Any] | None = None,
    ) -> list[Execution]:
        """Run ``pipeline`` on many checkpoints (or lists, for a merge), from ``step`` if given: a bulk replay."""
        spec = self.single.pipeline(pipeline)
        entries = [Entry(n, self.single.item_for(spec, value), event=event) for n, value in enumerate(values)]
        return self._run(spec, spec.index(step) if step else 0, entries, len(values))

    # -- the loop ---------------------------------------------------------------------------------------------
    def _run(self, spec: Pipeline, start: int, entries: list[Entry], count: int) -> list[Execution]:
        executions = [Execution() for _ in range(count)]
        step = spec.steps[start]

        def identity(entry: Entry) -> uuid.UUID:
            return store.output_id(store.parents_of(entry.item.value, step), entry.item.value, step)

        for group in _rounds(entries, identity):
            for first in range(0, len(group), self.batch_size):
                with store.read_scope():
                    self._drain(spec, start, group[first : first + self.batch_size], executions)
        return executions

    def _drain(self, spec: Pipeline, start: int, entries: list[Entry], executions: list[Execution]) -> None:
        queue: deque[tuple[Pipeline, int, list[Entry]]] = deque([(spec, start, entries)])
        queued = queues.in_force(self.composition).queued
        while queue:
            current, index, batch = queue.popleft()
            published = self._pipeline(current, index, batch, executions)
            jobs: dict[str, tuple[Pipeline, list[Entry]]] = {}
            handed: list[QueuedHandoff] = []  # queued publications: one insert for the batch, sent after it
            subscribers: dict[str, list[Pipeline]] = {}  # per publication, once per batch (not per entry)
            for publication, entry in published:
                fed_by = subscribers.get(publication.name)
                if fed_by is None:
                    fed_by = subscribers[publication.name] = self.single.subscribers(publication.name)
                if publication.name in queued:  # a replayed checkpoint was handed off when it went in (the runner's)
                    if entry.fresh:
                        handed += queues.rows_for(publication.name, entry.item.value, [s.name for s in fed_by])
                    continue
                for subscriber in fed_by:
                    onward = _onward(entry, entry.item, entry.fresh)
                    jobs.setdefault(subscriber.name, (subscriber, []))[1].append(onward)
            if handed:
                queues.record_and_send(handed)
            queue.extend((subscriber, 0, batch) for subscriber, batch in jobs.values())

    def _pipeline(
        self, spec: Pipeline, start: int, batch: list[Entry], executions: list[Execution]
    ) -> list[tuple[Publication, Entry]]:
        """The runner's ``_steps`` over a batch: who goes on, who stops, who publishes a decision outcome."""
        if any(s.side_outputs for s in spec.steps[start:]):  # refused before anything of the batch is run
            raise ValueError(
                f"pipeline {spec.name!r} has aux branches written beside a primary: run it on the single path "
                "(pipelines.current_engine), which writes and parks them"
            )
        published: list[tuple[Publication, Entry]] = []
        alive = batch
        for index in range(start, len(spec.steps)):
            if not alive:
                break
            step = spec.steps[index]
            going: list[Entry] = []
            started = time.perf_counter()
            outcomes = self._step(spec, step, alive)
            metrics.batch_step_ran(spec.name, step.name, (r.status for r, _ in outcomes), time.perf_counter() - started)
            for entry, (result, handed) in zip(alive, outcomes, strict=True):
                executions[entry.origin].results.append(result)
                if result.status in _STOPS or (result.status is StepStatus.LOST and step.on_lost == "stop"):
                    continue
                if result.status in _GOES_ON and handed is not None:
                    entry = _onward(entry, handed, result.status is StepStatus.INSERTED)
                    outcome = step.outcomes.get(type(handed.value))
                    if outcome is not None:
                        published.append((outcome, entry))
                        continue
                else:
                    entry = _onward(entry, entry.item, entry.fresh)
                going.append(entry)
            alive = going
        published.extend((spec.output, e) for e in alive if isinstance(e.item.value, spec.output.model))
        return published

    # -- one step over a batch --------------------------------------------------------------------------------
    def _step(self, spec: Pipeline, step: Step, batch: list[Entry]) -> list[Outcome]:
        plans = store.plans(step, batch)
        leader_of: dict[int, Plan] = {}  # by the id's integer: a UUID hashes in Python, an int in C
        for plan in plans:
            leader_of.setdefault(plan.out_id.int, plan)  # a second plan with the same output id follows the first
        leaders = plans if len(leader_of) == len(plans) else list(leader_of.values())
        unknown = [p for p in leaders if not (p.parents and p.entry.fresh and store.all_fresh(p.parents))]
        outcomes: dict[Plan, Outcome] = {}
        try:
            stored = store.stored_outputs(step, unknown)
        except Exception as exc:  # noqa: BLE001  (a look-up's database error fails every item of the batch)
            self._fail(spec, step, leaders, outcomes, exc)
            stored = {}
        for out_id, rows in stored.items():
            leader = leader_of[out_id.int]
            outcomes[leader] = (
                StepResult(spec.name, step.name, StepStatus.REPLAYED, rows),
                next_item(step, rows, leader.entry.item),
            )
        todo = [p for p in leaders if p not in outcomes] if outcomes else leaders
        if todo:
            try:
                paused = (spec.name, step.name) in pauses.paused_steps()
            except DatabaseError as exc:  # the pauses could not be read: no item of the batch may run
                self._fail(spec, step, todo, outcomes, exc)
                paused, todo = False, []
            if paused:
                todo = self._hold(spec, step, todo, outcomes)
        if todo:
            try:
                outcomes.update(self._attempt(spec, step, todo, strict=False))
            except Redo:
                for plan in todo:
                    outcomes.update(self._attempt(spec, step, [plan], strict=True))
        log.info("batch.step", pipeline=spec.name, step=step.name, items=len(batch), processed=len(todo))
        if leaders is plans:
            return [outcomes[p] for p in plans]
        return [_follow(outcomes[leader_of[p.out_id.int]], p, leader_of[p.out_id.int] is p) for p in plans]

    def _hold(self, spec: Pipeline, step: Step, plans: list[Plan], outcomes: dict[Plan, Outcome]) -> list[Plan]:
        """The single path's pause check, per item: a held item is parked (PAUSED) and not processed."""
        going = []
        for plan in plans:
            item = plan.entry.item
            try:
                scope = pauses.matching(self.composition, spec.name, step.name, item.value)
                held = scope is not None and holds.hold(
                    spec, step, item, plan.entry.event, plan.entry.attempt, scope.id
                )
            except DatabaseError as exc:  # its parked row could not be written: it fails, its batch-mates go on
                self._fail(spec, step, [plan], outcomes, exc)
                continue
            if held:
                outcomes[plan] = (StepResult(spec.name, step.name, StepStatus.PAUSED), None)
            else:
                going.append(plan)
        return going

    def _fail(
        self, spec: Pipeline, step: Step, plans: list[Plan], outcomes: dict[Plan, Outcome], error: Exception
    ) -> None:
        """Items that failed before the batch's transaction (its replay look-up, its pause check): one error-sink
        entry each and parking, as a failure inside it. On PostgreSQL an error that aborted a caller's open
        transaction (a test case's) goes to the caller, as on the single path (``Engine._failed``): nothing can be
        recorded in that transaction."""
        if caller_transaction_aborted():
            raise error
        for plan in plans:
            record_failure(spec, step, plan.entry.item, plan.entry.event, plan.entry.attempt, error)
            outcomes[plan] = (StepResult(spec.name, step.name, StepStatus.FAILED, error=error), None)

    def _attempt(
        self, spec: Pipeline, step: Step, plans: list[Plan], *, strict: bool, redo: bool = True
    ) -> dict[Plan, Outcome]:
        """Run ``process()`` for every plan and write the rows in one transaction; record failures after it.

        Strict (one item): a ``StalePlan`` runs its transaction once more, as the single path does (its rollback
        dropped the stale statements)."""
        done: dict[Plan, Outcome] = {}
        failed: list[tuple[Plan, BaseException]] = []
        keys = [ids.text(p.entry.item.trace_id) for p in plans]  # every step of a batch keys its reads by them
        try:
            # The batched stream runs the main branch only (forks run on the single path, the runner).
            with store.batch_step(keys) as opened, transaction.atomic(durable=True), store.on_branch(MAIN_BRANCH):
                built: list[tuple[Plan, Rows]] = []
                now = clock.reckoned()  # the step's time, for every item of the batch (one transaction)
                pending = opened.pending if opened is not None else []
                for plan in plans:
                    try:
                        rows = self._process(spec, step, plan, done, now, pending)
                    except DatabaseError as exc:
                        if not strict:
                            raise Redo from exc  # the transaction may be broken: redo item by item
                        raise
                    except Exception as exc:  # noqa: BLE001  (the boundary for one item: it feeds the error sink)
                        failed.append((plan, exc))
                        continue
                    if rows:
                        built.append((plan, rows))
                if strict:
                    done.update(store.write_items(spec, step, built))
                else:
                    done.update(store.write_batch(spec, step, built))
        except Redo:
            raise
        except Exception as broken:  # strict mode: this one item's transaction failed
            if not strict:
                raise Redo from broken
            if redo and isinstance(broken, StalePlan):
                log.warning("step.redone", pipeline=spec.name, step=step.name, code=broken.code)
                return self._attempt(spec, step, plans, strict=True, redo=False)
            failed.append((plans[0], broken))
        for plan, error in failed:
            record_failure(spec, step, plan.entry.item, plan.entry.event, plan.entry.attempt, error)
            done[plan] = (StepResult(spec.name, step.name, StepStatus.FAILED, error=error), None)
        return done

    def _process(
        self,
        spec: Pipeline,
        step: Step,
        plan: Plan,
        done: dict[Plan, Outcome],
        now: datetime.datetime,
        pending: list[Any],
    ) -> Rows | None:
        """One item's ``process()`` and rows; its outputs join ``pending`` (``store.pending()``: its batch-mates'
        rules see them)."""
        item = plan.entry.item
        ctx = StepContext(
            spec.name, step.name, item.value, plan.out_id, item.trace_id, plan.entry.attempt, plan.entry.event, now
        )
        produced = step.process(ctx)  # on the main branch (``_attempt``)
        if isinstance(produced, Await | Skip):
            status = StepStatus.AWAITING if isinstance(produced, Await) else StepStatus.SKIPPED
            if isinstance(produced, Await):
                store.wait_opened(spec, step, item.value, item.trace_id, item.key, now)
            done[plan] = (StepResult(spec.name, step.name, status), None)
            return None
        rows = build_rows(step, item, plan.parents, plan.out_id, produced, ctx.now)  # exactly as the single path
        store.tap(spec.name, step.name, rows)
        for row, _ in rows:
            pending.append((type(row), row.__dict__))
        return rows


def _onward(entry: Entry, item: Item, fresh: bool) -> Entry:
    """The entry handed to the next step: the event and the attempt belong to the step they started."""
    return Entry(entry.origin, item, fresh)


def _follow(leader: Outcome, plan: Plan, is_leader: bool) -> Outcome:
    """A plan with the same output id as an earlier one in the batch (so the same input at this step, reached another
    way: a step before that skipped, say) gets what the single path would: a replay of what that one wrote, or its
    failure. That failure's error-sink entry, parked row and dead letter or next attempt are the input's: run one by
    one, the second run fails on the same attempt of the same input, whose entry has the same id and inserts nothing,
    and whose decision is recorded already (``parking.decided``)."""
    if is_leader:
        return leader
    result, nxt = leader
    if result.status in _GOES_ON and nxt is not None:
        replayed = StepResult(result.pipeline, result.step, StepStatus.REPLAYED, result.checkpoints)
        return replayed, Item(nxt.value, plan.entry.item.trace_id, plan.entry.item.key)
    return leader


def _rounds(entries: list[Entry], identity: Callable[[Entry], Hashable]) -> list[list[Entry]]:
    """Split the entries so that no identity appears twice in a round (a duplicate runs after its first)."""
    rounds: list[list[Entry]] = []
    seen: dict[Hashable, int] = {}
    for entry in entries:
        key = identity(entry)
        n = seen.get(key, 0)
        seen[key] = n + 1
        while len(rounds) <= n:
            rounds.append([])
        rounds[n].append(entry)
    return rounds
