"""The synchronous runner: runs steps, persists checkpoints, lineage and the log, and hands off in-process.

Each step runs in its own transaction by default (``step_transaction``: its one write statement in autocommit
on PostgreSQL, ``atomic(durable=True)`` on SQLite); ``TPFGO_ATOMICITY="pipeline"`` wraps a whole pipeline
instead. A completed pipeline's checkpoint is handed to its subscribers in the same
process, breadth first, after the transaction that inserted it committed; a publication in ``queue`` mode
hands it to the subscribers' queues instead (``pipelines.engine.queues``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Never, NoReturn

import structlog
from django.db import DatabaseError, connection, transaction

from pipelines.contracts import ids
from pipelines.contracts.declarations import Composition, Pipeline, Publication, Step, side_pipeline_name
from pipelines.contracts.errors import ContractError
from pipelines.contracts.steps import (
    Await,
    Command,
    Execution,
    Item,
    Output,
    Produced,
    Skip,
    Split,
    StepContext,
    StepResult,
    StepStatus,
)
from pipelines.engine import mapping, metrics, pauses, queues, tracing
from pipelines.failures import holds
from pipelines.failures.record import record as record_failure
from pipelines.models import MAIN_BRANCH, Checkpoint, CheckpointChild
from pipelines.store import branches, claim_locks, clock
from pipelines.store.store import StalePlan, store

log = structlog.get_logger("pipelines.runner")


@dataclass
class _Job:
    pipeline: Pipeline
    item: Item
    start: int = 0
    event: Mapping[str, Any] | None = None
    attempt: int = 1
    new: bool = False  # the caller saw that the first step's output is not stored: skip its replay look-up
    unpaused: bool = False  # the caller already asked whether the first step is paused for this item (a retry)


class _Published(NamedTuple):
    """A checkpoint to hand to a publication's subscribers, and whether this run inserted it (else it replayed it)."""

    publication: Publication
    item: Item
    inserted: bool


class _Ran(NamedTuple):
    """What running (part of) a pipeline did: its results, the publications to hand off, the aux jobs to queue."""

    results: list[StepResult]
    published: Sequence[_Published] = ()
    side: Sequence[_Job] = ()


class _PipelineFailed(Exception):
    """Raised inside a per-pipeline transaction so the whole pipeline rolls back."""

    def __init__(self, step: Step, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.step = step
        self.cause = cause
        self.seconds = 0.0  # the failing run's time, counted by its pipeline's run unless it is redone


class _StepCall(NamedTuple):
    """What one step run gets from the loop: the pipeline, the step, its input, and its attempt."""

    spec: Pipeline
    step: Step
    item: Item
    event: Mapping[str, Any] | None
    attempt: int
    durable: bool
    check_pause: bool = True


def _effect_turn(call: _StepCall, output_id: uuid.UUID) -> contextlib.AbstractContextManager[None]:
    """A step with an external effect (a gateway call) makes it before its row is inserted, so two runs of it at once
    (two copies of a queued hand-off, a client's request sent again to another node, a parked retry beside a run
    still live past the claim timeout) both made it. On PostgreSQL its runs take turns on its output's lock: the later
    one looks up after the earlier one committed or failed, and replays its row without a second call. With per-step
    transactions the lock is let go after the step (``claim_locks.in_turn``); inside a pipeline's transaction
    (``TPFGO_ATOMICITY=pipeline``) when that transaction ends (``claim_locks.in_turn_to_commit``), since its row is
    seen only then. In a run durable at the boundary the lock rides ahead of the step's first statement (its look-up,
    or the flush before its effect) and its release ahead of the statement after its row. Not on SQLite, whose
    waiting locks are shared files: a run already waiting its turn for a decision (an ops approval's capture) could
    meet its own lock there."""
    if not call.step.external_effect or connection.vendor != "postgresql":
        return contextlib.nullcontext()
    if call.durable:
        return claim_locks.in_turn("effect", output_id, riding=True)
    return claim_locks.in_turn_to_commit("effect", output_id)


class Engine:
    def __init__(self, composition: Composition, *, atomicity: str = "step") -> None:
        self.composition = composition
        self.atomicity = atomicity
        self.mapped = mapping.mapped_pipelines(composition)  # the pipelines a mapper feeds, their first step mapping

    def pipeline(self, name: str) -> Pipeline:
        """The pipeline ``name`` as the engine runs it (its first step applying a subscription's mapper)."""
        return self.mapped.get(name) or self.composition.pipeline(name)

    def subscribers(self, publication: str) -> list[Pipeline]:
        """The pipelines that subscribe to ``publication``, as the engine runs them."""
        found = self.composition.subscribers(publication)
        return [self.mapped.get(p.name, p) for p in found] if self.mapped else found

    # -- entry points -------------------------------------------------------------------------------------
    def start(self, pipeline: str, payload: Mapping[str, Any], key: str, *, new: bool = False) -> Execution:
        """Run a source pipeline on a command; its root id is derived from the namespace and the key.

        ``new=True``: the caller has just looked and found nothing stored for this key, so the first step
        skips its own replay look-up (a concurrent duplicate still meets the unique insert and is a replay).
        """
        spec = self.pipeline(pipeline)
        if spec.source_namespace is None:
            raise ValueError(f"pipeline {pipeline!r} is not a source pipeline")
        root = ids.deterministic_id(spec.source_namespace, key)
        return self._drain(_Job(spec, Item(Command(root, payload), root, key), new=new))

    def run(
        self,
        pipeline: str,
        value: Checkpoint | Command | list[Checkpoint],
        *,
        step: str | None = None,
        event: Mapping[str, Any] | None = None,
        attempt: int = 1,
        key: str | None = None,
        trace_id: uuid.UUID | None = None,
        branch: str | None = None,
        unpaused: bool = False,
    ) -> Execution:
        """Run ``pipeline`` on ``value`` (a checkpoint, or a list for a merge), from ``step`` if given.

        ``branch``: the lineage branch to run on (a parked retry's); None: the input's own.
        ``unpaused``: the caller (a parked retry) has just checked that ``step`` is not paused for this item.
        """
        spec = self.pipeline(pipeline)
        item = self.item_for(spec, value, key=key, trace_id=trace_id, branch=branch)
        start = spec.index(step) if step else 0
        return self._drain(_Job(spec, item, start, event, attempt, unpaused=unpaused))

    def publish(self, publication: str, checkpoint: Checkpoint) -> Execution:
        """Hand ``checkpoint`` to the subscribers of ``publication`` again (an idempotent re-forward)."""
        execution = Execution()
        item = Item(checkpoint, checkpoint.trace_id, checkpoint.idempotency_key, branch_of(checkpoint))
        for subscriber in self.subscribers(publication):
            execution.results.extend(self._drain(_Job(subscriber, item)).results)
        return execution

    def deliver(self, pipeline: str, checkpoint: Checkpoint) -> Execution:
        """Run ``pipeline`` on a checkpoint of a publication it subscribes to (a queued hand-off, on a worker)."""
        item = Item(checkpoint, checkpoint.trace_id, checkpoint.idempotency_key, branch_of(checkpoint))
        return self._drain(_Job(self.pipeline(pipeline), item))

    def fork(self, pipeline: str, step: str, checkpoint: Checkpoint, branch: str) -> Execution:
        """Re-run the trace on ``branch`` from ``checkpoint``, the stored output of ``pipeline``/``step``: the
        pipeline goes on from the next step, or (its last step, or a decision outcome) its publication is handed
        to the subscribers again, all on the new branch."""
        spec = self.pipeline(pipeline)
        index = spec.index(step)
        item = Item(checkpoint, checkpoint.trace_id, checkpoint.idempotency_key, branch)
        outcome = spec.steps[index].outcomes.get(type(checkpoint))
        if outcome is None and index + 1 < len(spec.steps):
            return self._drain(_Job(spec, item, index + 1))
        publication = outcome or spec.output
        execution = Execution()
        for subscriber in self.subscribers(publication.name):
            execution.results.extend(self._drain(_Job(subscriber, item)).results)
        return execution

    def item_for(
        self,
        spec: Pipeline,
        value: Checkpoint | Command | list[Checkpoint],
        *,
        key: str | None = None,
        trace_id: uuid.UUID | None = None,
        branch: str | None = None,
    ) -> Item:
        first = value[0] if isinstance(value, list) else value
        if key is None:
            key = first.idempotency_key if isinstance(first, Checkpoint) else str(first.id)
            if isinstance(value, list):
                key = key.rsplit(":", 1)[0]  # split children carry "<key>:<index>"; the merge carries <key>
        if trace_id is None:
            trace_id = first.trace_id if isinstance(first, Checkpoint) else first.id
        return Item(value, trace_id, key, branch or branch_of(first))

    # -- the loop ---------------------------------------------------------------------------------------------
    def _drain(self, job: _Job) -> Execution:
        execution = Execution()
        queue: deque[_Job] = deque([job])
        queued = queues.in_force(self.composition).queued
        # Durable at the boundary (``TPFGO_DURABILITY``): the run's commits are made durable when it ends.
        with store.relaxed():
            while queue:
                current = queue.popleft()
                results, published, side = self._run_pipeline(current)
                execution.results.extend(results)
                for publication, item, inserted in published:
                    log.info("pipeline.published", publication=publication.name, checkpoint_id=str(item.value.pk))
                    if publication.name in queued:  # its subscribers run on workers, from their queues
                        # A replayed checkpoint was handed off by the run that inserted it: sent again, its
                        # consumed hand-off would open again and replay the rest of the chain, queue by queue.
                        if inserted:
                            subscribers = [s.name for s in self.composition.subscribers(publication.name)]
                            queues.hand_off(publication.name, item.value, subscribers)
                        continue
                    for subscriber in self.subscribers(publication.name):
                        queue.append(_Job(subscriber, item))
                queue.extend(side)  # aux branches run after the primary's hand-offs are queued: they never hold them
        return execution

    def _run_pipeline(self, job: _Job, *, redo: bool = True) -> _Ran:
        if self.atomicity != "pipeline":
            return self._steps(job, durable=True)
        try:
            with transaction.atomic(durable=True):
                return self._steps(job, durable=False)
        except (StalePlan, _PipelineFailed) as failed:
            stale = failed if isinstance(failed, StalePlan) else failed.cause
            if redo and isinstance(stale, StalePlan):  # the rollback dropped the stale statements: run it again
                log.warning("pipeline.redone", pipeline=job.pipeline.name, code=stale.code)
                return self._run_pipeline(job, redo=False)  # only the redo's runs count as its steps' outcomes
            if not isinstance(failed, _PipelineFailed):
                raise
            metrics.step_ran(job.pipeline.name, failed.step.name, StepStatus.FAILED, failed.seconds)
            # The whole pipeline rolled back: park its input at its first step, name the failing step.
            first = job.pipeline.steps[job.start]
            record_failure(job.pipeline, first, job.item, job.event, job.attempt, failed.cause, failed_step=failed.step)
            return _Ran([StepResult(job.pipeline.name, failed.step.name, StepStatus.FAILED, error=failed.cause)])

    def _steps(self, job: _Job, *, durable: bool) -> _Ran:
        results: list[StepResult] = []
        handed: list[_Published] = []  # required aux branches' hand-offs: after the primary's
        side: list[_Job] = []
        item = job.item
        inserted = False  # whether this run inserted ``item``
        spec = job.pipeline
        for index in range(job.start, len(spec.steps)):
            step = spec.steps[index]
            first = index == job.start
            event, attempt = (job.event, job.attempt) if first else (None, 1)
            call = _StepCall(spec, step, item, event, attempt, durable, not (first and job.unpaused))
            result, next_item = self._run_step(call, look_up=not (first and job.new))
            results.append(result)
            if result.status in _STOPS:
                return _Ran(results, handed, side)
            if result.status is StepStatus.LOST and step.on_lost == "stop":
                return _Ran(results, handed, side)
            if result.status in _GOES_ON and next_item is not None:
                item, inserted = next_item, result.status is StepStatus.INSERTED
                outcome = step.outcomes.get(type(item.value))
                if outcome is not None:  # a decision outcome has no aux branch beside it
                    return _Ran(results, [_Published(outcome, item, inserted), *handed], side)
                if step.side_outputs:
                    self._beside(spec, step, result, item, handed, side)
        if isinstance(item.value, spec.output.model):
            return _Ran(results, [_Published(spec.output, item, inserted), *handed], side)
        return _Ran(results, handed, side)

    def _beside(
        self,
        spec: Pipeline,
        step: Step,
        result: StepResult,
        item: Item,
        handed: list[_Published],
        side: list[_Job],
    ) -> None:
        """The aux branches of a primary that went on. A required one was written with it: its publication is handed
        off with the row just inserted, or (a replayed primary) by its side pipeline, which finds it stored. An
        optional one runs as its side pipeline on the primary checkpoint, in its own transaction, after the
        primary's hand-offs; a primary just inserted has no aux row yet, so it skips the replay look-up."""
        inserted = result.status is StepStatus.INSERTED
        for branch in step.side_outputs:
            if branch.optional or (branch.publication is not None and not inserted):
                spec_of_branch = self.composition.pipeline(side_pipeline_name(spec.name, branch.name))
                side.append(_Job(spec_of_branch, item, new=branch.optional and inserted))
            elif branch.publication is not None:
                row = next((cp for cp in result.checkpoints[1:] if type(cp) is branch.model), None)
                if row is not None:  # None: the branch returned SKIP
                    handed.append(_Published(branch.publication, Item(row, item.trace_id, item.key, item.branch), True))

    # -- one step ---------------------------------------------------------------------------------------------
    def _run_step(self, call: _StepCall, *, look_up: bool = True) -> tuple[StepResult, Item | None]:
        """One step on one item, timed (``tpfgo_step_seconds``) and traced (a span per run)."""
        started = time.perf_counter()
        parents = store.parents_of(call.item.value, call.step)
        output_id = store.branch_id(store.output_id(parents, call.item.value, call.step), call.item.branch)
        turned = False  # the effect's turn was taken: an error after it is the run's, handled in it
        try:
            with _effect_turn(call, output_id):
                turned = True
                if not tracing.enabled():
                    result, onward = self._attempt_step(call, look_up, parents, output_id)
                else:
                    span_of = tracing.step_span(
                        call.spec.name, call.step.name, output_id, call.attempt, call.item.trace_id
                    )
                    with span_of as span:
                        result, onward = self._attempt_step(call, look_up, parents, output_id)
                        span.outcome(result.status)
        except _PipelineFailed as failed:  # its pipeline's transaction rolls back: its run counts it as failed,
            failed.seconds = time.perf_counter() - started  # or runs it again (a StalePlan) and counts that run
            raise
        except DatabaseError as exc:  # the effect's lock was not had (a lock timeout, a lost connection)
            if turned:
                raise
            try:
                result, onward = self._failed(call, look_up, parents, output_id, exc, redo=False)
            except _PipelineFailed as failed:
                failed.seconds = time.perf_counter() - started
                raise
        metrics.step_ran(call.spec.name, call.step.name, result.status, time.perf_counter() - started)
        return result, onward

    def _attempt_step(
        self, call: _StepCall, look_up: bool, parents: list[Any], output_id: uuid.UUID, *, redo: bool = True
    ) -> tuple[StepResult, Item | None]:
        spec, step, item, event, attempt, durable, check_pause = call
        # A deciding command runs even when its output id is stored: only its output says whether it is the
        # same command again (a replay) or another decision (a loss); its insert then meets the stored row.
        decided = store.decides(step, event)
        try:
            existing = store.stored_output(step, output_id, parents) if look_up and not decided else []
        except Exception as exc:  # noqa: BLE001  (a look-up's database error fails the step like any other)
            return self._failed(call, look_up, parents, output_id, exc, redo)
        if existing:
            return StepResult(spec.name, step.name, StepStatus.REPLAYED, existing), self._next(step, existing, item)
        try:
            if check_pause and self._held(call):
                return StepResult(spec.name, step.name, StepStatus.PAUSED), None
        except DatabaseError as exc:  # the pause check's (it reads the pauses, writes the parked row) fails the step
            return self._failed(call, look_up, parents, output_id, exc, redo)
        structlog.contextvars.bind_contextvars(
            pipeline=spec.name,
            step=step.name,
            item_id=_input_id(item.value),
            checkpoint_id=str(output_id),
            trace_id=str(item.trace_id),
        )
        ctx = StepContext(spec.name, step.name, item.value, output_id, item.trace_id, attempt, event, clock.reckoned())
        # An event resuming a step with a deadline races that deadline for the wait's round (pipelines.store.waits):
        # the claim and the checkpoint go in one transaction, on PostgreSQL too.
        races = event is not None and step.deadline is not None
        together = races or _writes_beside(step)
        try:
            with step_transaction(durable, step.shape, atomic=together) as reading:
                with reading(), store.on_branch(item.branch):
                    produced = step.process(ctx)
                if isinstance(produced, Await | Skip):
                    status = StepStatus.AWAITING if isinstance(produced, Await) else StepStatus.SKIPPED
                    if isinstance(produced, Await):
                        store.wait_opened(spec, step, item.value, item.trace_id, item.key, ctx.now, item.branch)
                    return StepResult(spec.name, step.name, status), None
                if races and not store.wait_claimed(spec, step, item.value, ctx.now, item.branch):
                    log.info("wait.lost_to_deadline")
                    return StepResult(spec.name, step.name, StepStatus.LOST), None
                rows = build_rows(step, item, parents, output_id, produced, ctx.now)
                store.tap(spec.name, step.name, rows)  # opt-in, best effort; may see a rollback
                written = store.write_output(spec, step, rows, parents, item.trace_id, decided=decided)
                if written.winner is not None:
                    # A stored unique row: this input's own output (a replay), or a winner of its business key
                    # (or of its id, with another decision).
                    winner = written.winner
                    result = StepResult(spec.name, step.name, written.status, [winner], winner=winner)
                    return result, self._next(step, [winner], item) if written.status is StepStatus.REPLAYED else None
                aux_rows = self._required_aux(spec, step, rows[0][0], item, attempt, ctx.now) if together else []
                _crash_after_commit(step.name)
            checkpoints = [row for row, _ in rows] + aux_rows
            log.info("step.completed", checkpoints=len(checkpoints), type=type(checkpoints[0]).__name__)
            return StepResult(spec.name, step.name, StepStatus.INSERTED, checkpoints), self._next(
                step, checkpoints, item
            )
        except _PipelineFailed:
            raise
        except Exception as exc:  # noqa: BLE001  (the engine's outer boundary: every step failure feeds the error sink)
            return self._failed(call, look_up, parents, output_id, exc, redo)
        finally:
            structlog.contextvars.unbind_contextvars("pipeline", "step", "item_id", "checkpoint_id", "trace_id")

    def _failed(
        self, call: _StepCall, look_up: bool, parents: list[Any], output_id: uuid.UUID, exc: Exception, redo: bool
    ) -> tuple[StepResult, Item | None]:
        """A step run that raised: its pipeline's transaction rolls back (``TPFGO_ATOMICITY=pipeline``), or it is run
        again once (a ``StalePlan``: the rollback dropped the stale statements), or it is parked in the error sink.

        In a caller's open transaction the look-up runs in that transaction, outside the step's savepoint: on
        PostgreSQL its error aborted the caller's transaction, where nothing can run again or be recorded; the
        error goes to the caller, whose rollback ends it (docs/operations.md, ``STALE_PLAN``)."""
        spec, step, item, event, attempt, durable, _ = call
        if not durable:
            raise _PipelineFailed(step, exc) from exc
        if caller_transaction_aborted():
            raise exc
        if redo and isinstance(exc, StalePlan):  # the rollback dropped the stale statements: run it again
            log.warning("step.redone", code=exc.code)
            return self._attempt_step(call, look_up, parents, output_id, redo=False)
        record_failure(spec, step, item, event, attempt, exc)
        return StepResult(spec.name, step.name, StepStatus.FAILED, error=exc), None

    def _required_aux(
        self, spec: Pipeline, step: Step, written: Checkpoint, item: Item, attempt: int, now: datetime
    ) -> list[Checkpoint]:
        """The required aux branches of a primary just written, in its transaction: one failing fails the step.

        Each is run and logged under its side pipeline (``<pipeline>+<branch>``), as an optional branch is, so
        recovery reads a row's successors there (its publication's subscribers; nothing else follows it)."""
        if type(written) is not step.model:  # a decision outcome has no aux branches beside it
            return []
        out: list[Checkpoint] = []
        parents = [written]
        onward = Item(written, item.trace_id, item.key, item.branch)
        for branch in step.side_outputs:
            if branch.optional:
                continue
            side_spec = self.composition.pipeline(side_pipeline_name(spec.name, branch.name))
            side = step.side_steps[branch.name]
            output_id = store.output_id(parents, written, side)
            ctx = StepContext(side_spec.name, side.name, written, output_id, item.trace_id, attempt, None, now)
            produced = side.process(ctx)
            if isinstance(produced, Skip):
                continue
            rows = build_rows(side, onward, parents, output_id, produced, now)
            stored = store.write_output(side_spec, side, rows, parents, item.trace_id)
            out.append(stored.winner or rows[0][0])
        return out

    def _held(self, call: _StepCall) -> bool:
        """The step is paused for this item: it is parked with reason PAUSED instead of run (``failures.holds``)."""
        scope = pauses.matching(self.composition, call.spec.name, call.step.name, call.item.value)
        if scope is None:
            return False
        return holds.hold(call.spec, call.step, call.item, call.event, call.attempt, scope.id)

    def _next(self, step: Step, checkpoints: list[Checkpoint], item: Item) -> Item:
        value: Any = checkpoints if step.shape == "split" else checkpoints[0]
        return Item(value, item.trace_id, item.key, item.branch)


def caller_transaction_aborted() -> bool:
    """The error aborted a transaction the caller holds open (PostgreSQL): no statement runs in it until it ends."""
    return connection.in_atomic_block and store.transaction_aborted(connection)


def _writes_beside(step: Step) -> bool:
    """The step writes a required aux branch with its primary: one transaction for both, on PostgreSQL too."""
    return bool(step.side_outputs) and not step.side_outputs[0].optional  # required ones sort first


def branch_of(value: object) -> str:
    """The branch an input runs on: its checkpoint's (a fork's rows carry theirs), else the main branch."""
    column = getattr(type(value), "branch_field", None)
    return str(getattr(value, column)) if column else MAIN_BRANCH


def build_rows(
    step: Step, item: Item, parents: list[Any], output_id: uuid.UUID, produced: Produced, now: datetime
) -> list[tuple[Checkpoint, Sequence[CheckpointChild]]]:
    """A step's output rows with the engine's columns set (ids, trace, key, business key, contract, time)."""
    outputs = _outputs(step, produced)
    rows = []
    for index, output in enumerate(outputs):
        fields, model, children = output.fields, output.model or step.model, output.children
        if model not in step.models:
            _not_its_model(step, model)
        if step.shape == "split":
            pk = store.branch_id(ids.child_id(parents[0].id, step.name, index), item.branch)
            key = f"{item.key}:{index}"
        else:
            pk, key = output_id, item.key
        row = store.new_row(model, fields)
        contract = model.contract
        if store.plain_attributes(model):  # every field a plain attribute (checked once per model): set directly
            data = row.__dict__
            data["id"], data["trace_id"], data["idempotency_key"] = pk, item.trace_id, key
            data["contract_name"], data["contract_version"], data["created_at"] = contract.name, contract.version, now
        else:
            for name, value in (
                ("id", pk),
                ("trace_id", item.trace_id),
                ("idempotency_key", key),
                ("contract_name", contract.name),
                ("contract_version", contract.version),
                ("created_at", now),
            ):
                setattr(row, name, value)
        if model.branch_field is not None:
            setattr(row, model.branch_field, item.branch)
        elif item.branch != MAIN_BRANCH:
            raise ContractError(f"{model.__name__} declares no branch_field: it cannot be written on a fork")
        row.business_key = business_key(row)
        rows.append((row, children))
    return rows


def _not_its_model(step: Step, model: type[Checkpoint]) -> NoReturn:
    """An ``Output`` of a model the step does not declare: what it may write, and how a decision declares more."""
    writes = ", ".join(m.__name__ for m in step.models)
    raise ContractError(
        f"step {step.name!r} cannot write {model.__name__}: it writes {writes}; a decision step declares each other "
        f"model it may write as an outcome with its publication (branches=(primary(...), outcome(name, "
        f"{model.__name__}, publication)): docs/architecture.md, 'The branch policy')"
    )


def _outputs(step: Step, produced: Produced) -> tuple[Output, ...]:
    """What ``process()`` produced, as outputs; a shape it may not return is a ``ContractError``."""
    if type(produced) is Output and step.shape != "split":  # the common case, first
        return (produced,)
    match produced:
        case Output() if step.shape != "split":
            return (produced,)
        case Split() if step.shape == "split":
            if not produced.outputs:
                raise ContractError(f"split step {step.name!r} produced no items")
            return produced.outputs
        case Output() | Split():
            wanted = "a Split" if step.shape == "split" else "an Output"
            raise ContractError(f"step {step.name!r} ({step.shape}) must return {wanted}, AWAIT or SKIP")
        case Await() | Skip():
            raise ContractError(f"step {step.name!r}: {produced!r} records nothing")
        case _:
            _not_produced(step, produced)


def _not_produced(step: Step, produced: Never) -> NoReturn:
    """Exhaustiveness: mypy proves no case of ``Produced`` is left; at run time, a step that returned another
    type (a dict, a list) fails like any other contract break."""
    raise ContractError(
        f"step {step.name!r} returned {type(produced).__name__}: return an Output, a Split, AWAIT or SKIP"
    )


# A step that failed, awaits or is paused stops its pipeline; an inserted or replayed one hands its output on.
_STOPS = frozenset({StepStatus.FAILED, StepStatus.AWAITING, StepStatus.PAUSED})
_GOES_ON = frozenset({StepStatus.INSERTED, StepStatus.REPLAYED})


def _input_id(value: Checkpoint | Command | list[Checkpoint]) -> str:
    """The id of a step's input as the error sink and parking key it (``parking.describe``): a merge's by the first
    of its inputs' ids; so a log line's ``item_id`` finds the entry and the parked item in the console."""
    if isinstance(value, list):
        return min(str(cp.pk) for cp in value)
    return str(value.pk if isinstance(value, Checkpoint) else value.id)


@contextlib.contextmanager
def step_transaction(durable: bool, shape: str = "one", *, atomic: bool = False) -> Iterator[Callable[[], Any]]:
    """The transaction a step runs in; yields what to wrap its ``process()`` call in.

    ``atomic``: the step writes a row besides its own (an event's claim of its wait), so it takes a transaction
    on PostgreSQL too.

    - Nested in a per-pipeline transaction: not even a savepoint (any step failure rolls the pipeline back).
    - SQLite: ``atomic(durable=True)``; its IMMEDIATE transaction serializes a step's reads and its write.
    - PostgreSQL, a step writing one checkpoint per input (not a split, whose children are several
      checkpoints that must all be new): the one statement that writes its rows, in autocommit. Everything
      the step writes (its checkpoint, child rows, lineage links, log row) goes in with one statement
      (``pipelines/store/postgres.py``), and a single statement is a transaction: it commits whole or not at all, and
      takes its log sequence numbers inside. ``BEGIN`` and ``COMMIT`` around it would add two round trips and
      nothing else: under READ COMMITTED the step's reads see committed data statement by statement either
      way, and no step takes a lock. So ``process()`` reads in autocommit and may only read: a write there
      would not be atomic with the step's rows, so it is refused (``ContractError``) before it reaches the
      database.
    """
    if not durable:
        with transaction.atomic(savepoint=False):
            yield contextlib.nullcontext
        return
    connection = transaction.get_connection()
    # Inside an open transaction (a test case's), atomic(durable=True) decides: it refuses anywhere else.
    if not store.writes_in_one_statement(connection) or shape == "split" or atomic or connection.in_atomic_block:
        with transaction.atomic(durable=True):
            yield contextlib.nullcontext
        return
    yield functools.partial(connection.execute_wrapper, _reads_only)


def _reads_only(execute: Callable[..., object], sql: str, params: object, many: bool, context: object) -> object:
    if not sql.lstrip()[:6].upper().startswith("SELECT"):
        raise ContractError(f"a step may only read in process(); refused: {sql[:60]!r}")
    return execute(sql, params, many, context)


def _crash_after_commit(step: str) -> None:
    """Test hook: ``TPFGO_CRASH_AFTER=<step name>`` SIGKILLs this process right after that step's commit.

    Crash-recovery tests use it to stop a process between two checkpoints; it is never set in production.
    """
    if os.environ.get("TPFGO_CRASH_AFTER") == step:
        transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))


_main_key_fields: dict[type[Checkpoint], tuple[str, ...]] = {}


def business_key(row: Checkpoint) -> str:
    """The business key's text: its fields' values joined by ``:``, the branch column's last and only off the main
    branch (``branches.branch_key``), so a fact on the main branch keeps the key it had before forks existed (and
    the memo of a request finds it by its order alone), and a fork's fact never shares a key with its parent's."""
    model = type(row)
    column = model.branch_field
    text = _joined(row, _main_key_fields.get(model) or _main_fields(model, column))
    return text if column is None else branches.branch_key(text, _joined(row, (column,)))


def _joined(row: Checkpoint, fields: tuple[str, ...]) -> str:
    declared = type(row).business_key_fields
    if len(fields) == 1:  # the common case, once per checkpoint
        raw = getattr(row, fields[0], "")
        value = ids.text(raw) if type(raw) is uuid.UUID else str(raw or "").strip()
        if not value:
            raise ContractError(f"{type(row).__name__}: a business key field of {declared} is blank")
        return value
    if not fields:
        raise ContractError(f"{type(row).__name__} declares no business_key_fields")
    values = [str(getattr(row, name, "") or "").strip() for name in fields]
    if not all(values):
        raise ContractError(f"{type(row).__name__}: a business key field of {declared} is blank")
    return ":".join(values)


def _main_fields(model: type[Checkpoint], column: str | None) -> tuple[str, ...]:
    """The key's fields on the main branch: the declared ones but the branch column (which ``branch_key`` adds last
    off the main branch; every model declares it last)."""
    fields = _main_key_fields[model] = tuple(f for f in model.business_key_fields if f != column)
    return fields
