"""Insert-only models: the abstract checkpoint, owned child rows, and the engine's ledger tables.

Every model in the project is a checkpoint, a ledger or mutable (see ``pipelines.store.classification``).
Checkpoints and ledgers refuse UPDATE and DELETE four times: queryset, instance, database trigger and
system check.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self, TypeVar

from django.db import models

from pipelines.contracts.errors import InsertOnlyViolation
from pipelines.contracts.fields import Contract

_M = TypeVar("_M", bound=models.Model)


class InsertOnlyQuerySet(models.QuerySet[_M]):
    def _refuse(self, operation: str) -> InsertOnlyViolation:
        return InsertOnlyViolation(self.model._meta.label, operation)

    def update(self, **kwargs: object) -> int:
        raise self._refuse("update")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise self._refuse("delete")

    def bulk_update(self, objs: object, fields: object, batch_size: int | None = None) -> int:
        raise self._refuse("bulk_update")

    def update_or_create(self, defaults: object = None, create_defaults: object = None, **kwargs: object) -> Any:
        raise self._refuse("update_or_create")

    async def aupdate(self, **kwargs: object) -> int:
        raise self._refuse("update")

    async def adelete(self) -> tuple[int, dict[str, int]]:
        raise self._refuse("delete")


InsertOnlyManager = models.Manager.from_queryset(InsertOnlyQuerySet)


class InsertOnlyModel(models.Model):
    """A row is written once and never changed or removed."""

    kind: ClassVar[str] = "ledger"

    objects = InsertOnlyManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A UUID pk is set before the first insert, so "new" is _state.adding, never pk is None.
        if not self._state.adding:
            raise InsertOnlyViolation(self._meta.label, "save of an existing row")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise InsertOnlyViolation(self._meta.label, "delete")


MAIN_BRANCH = "main"  # the branch every trace starts on; a fork's branch is its fork id (``ForkedFrom``)


class Checkpoint(InsertOnlyModel):
    """A step's output: a fact with a deterministic id, unique per business key, never changed."""

    kind: ClassVar[str] = "checkpoint"
    contract: ClassVar[Contract]
    # What a command decided (``decision_fields``): a command (a step run with an event) whose output id is
    # already stored replays only if it decided the same (same model, same values here); otherwise it lost.
    # Empty: the id alone says "the same command" (its other fields may depend on the clock).
    decision_fields: ClassVar[tuple[str, ...]] = ()
    # The fields whose values make the business key (at most one fact of this kind per key). The domain names
    # them on every concrete model (checkout: its order's id); the engine has no default (pipelines.E007).
    business_key_fields: ClassVar[tuple[str, ...]] = ()
    # The column that holds a row's lineage branch (``MAIN_BRANCH``, or a fork's branch), set by the engine like
    # ``trace_id``; a model that can be re-run by a fork declares it and makes it part of its business key (one
    # fact of each kind per key *and branch*). None: the model is never written on a fork branch.
    branch_field: ClassVar[str | None] = None

    # Indexes cost every insert, so a checkpoint table has only those its look-ups use: the id, the business key
    # (unique: it decides races), the time. A trace's checkpoints are found through the checkpoint log's
    # (trace_number, seq) index; the idempotency key is searched only by hand, in the console. A subclass whose
    # business key is its own columns (``business_key_fields``) may make those unique instead of the text
    # column (``business_key_columns``; checked by pipelines.E007).
    id = models.UUIDField(primary_key=True, editable=False)
    trace_id = models.UUIDField(editable=False)
    idempotency_key = models.CharField(max_length=200, editable=False)
    business_key = models.CharField(max_length=200, editable=False)
    contract_name = models.CharField(max_length=100, editable=False)
    contract_version = models.PositiveIntegerField(editable=False)
    created_at = models.DateTimeField(db_index=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["created_at"]
        # A constraint rather than unique=True: the same unique index, without PostgreSQL's second
        # varchar_pattern_ops index for LIKE, which no look-up of a business key needs.
        constraints = [models.UniqueConstraint(fields=["business_key"], name="%(app_label)s_%(class)s_bk")]

    def __str__(self) -> str:
        return f"{self.__class__.__name__} {self.id}"


def business_key_fields(model: type[Checkpoint]) -> tuple[str, ...]:
    """The fields a checkpoint's business key is made of, as the model declares them (empty: undeclared)."""
    return tuple(getattr(model, "business_key_fields", ()))


@functools.cache
def business_key_columns(model: type[Checkpoint]) -> tuple[str, ...]:
    """Where the database enforces ``model``'s business key: its ``business_key_fields`` when an unconditional
    unique constraint covers exactly them, else the ``business_key`` text column (empty: nowhere, pipelines.E007).
    """
    unique = [
        tuple(c.fields)
        for c in model._meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.condition is None and not c.expressions
    ]
    unique += [(f.name,) for f in model._meta.concrete_fields if f.unique and not f.primary_key]
    fields = business_key_fields(model)
    if fields in unique:
        return fields
    return ("business_key",) if ("business_key",) in unique else ()


def business_key_filter(row: Checkpoint) -> dict[str, Any]:
    """Look-up arguments that find the stored row holding ``row``'s business key (through its unique index)."""
    columns = business_key_columns(type(row)) or ("business_key",)
    return {name: getattr(row, name) for name in columns}


class CheckpointChild(InsertOnlyModel):
    """An insert-only row owned by a checkpoint (a checkout order's line items), written in the same transaction."""

    kind: ClassVar[str] = "checkpoint"

    class Meta:
        abstract = True


class Ledger(InsertOnlyModel):
    """The engine's own insert-only bookkeeping."""

    kind: ClassVar[str] = "ledger"

    class Meta:
        abstract = True


class Trace(Ledger):
    """A trace's number: an integer given to each trace when its first checkpoint is written, in order.

    Trace ids are deterministic hashes, i.e. random keys: an index of the log or of the lineage that led with one
    would put every step's row of every trace on a page of its own, and a batch step (hundreds of items, one
    commit) would write hundreds of pages of each such index. Numbers are handed out in the order traces start,
    so the traces of a batch (and the traces in flight) hold neighbouring numbers, and an index that leads with
    the number is written near its end, a few pages per batch step however large it grows. This table is the one
    random-keyed index left (``trace_id``, unique), written once per trace. See ``pipelines.store.traces``.
    """

    number = models.BigAutoField(primary_key=True)
    trace_id = models.UUIDField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "trace"
        verbose_name_plural = "traces"
        constraints = [models.UniqueConstraint(fields=["trace_id"], name="trace_unique_id")]

    def __str__(self) -> str:
        return f"trace {self.number} ({self.trace_id})"


def as_trace_uuid(value: object) -> uuid.UUID:
    """A trace id given as a UUID or as its text."""
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


KnownTraceNumbers = Callable[[Iterable[Any]], tuple[dict[uuid.UUID, int], list[uuid.UUID]]]


def _none_known(trace_ids: Iterable[Any]) -> tuple[dict[uuid.UUID, int], list[uuid.UUID]]:
    return {}, list(dict.fromkeys(as_trace_uuid(t) for t in trace_ids))


# The trace numbers the current read scope already holds: (known numbers, distinct traces it does not know).
# ``pipelines.store.traces`` fills that cache and installs this look-up when it is imported (the store sits above
# the models, which never import it); until then no number is known and a look-up is a sub-query on ``Trace``.
_known_trace_numbers: KnownTraceNumbers = _none_known


def use_known_trace_numbers(lookup: KnownTraceNumbers) -> None:
    global _known_trace_numbers
    _known_trace_numbers = lookup


def trace_number_expression(trace_id: uuid.UUID | str) -> Any:
    """What ``trace_number`` equals for ``trace_id``: the known number, or a sub-query on ``Trace``."""
    found, _ = _known_trace_numbers([trace_id])
    if found:
        return next(iter(found.values()))
    return models.Subquery(Trace.objects.filter(trace_id=trace_id).values("number")[:1])


def trace_numbers_expression(trace_ids: Iterable[Any]) -> Any:
    """What ``trace_number__in`` takes for many traces: the known numbers, or a sub-query on ``Trace``."""
    found, missing = _known_trace_numbers(trace_ids)
    if not missing:
        return list(found.values())
    return Trace.objects.filter(trace_id__in=[*found, *missing]).values("number")


class TracedQuerySet(InsertOnlyQuerySet[_M]):
    """Rows of the log and of the lineage, found by trace id through the trace's number."""

    def of_trace(self, trace_id: uuid.UUID | str) -> Self:
        return self.filter(trace_number=trace_number_expression(trace_id))

    def of_traces(self, trace_ids: Iterable[uuid.UUID | str]) -> Self:
        return self.filter(trace_number__in=trace_numbers_expression(trace_ids))


TracedManager = models.Manager.from_queryset(TracedQuerySet)


class LineageLink(Ledger):
    """One edge of the lineage graph: a child checkpoint and one of its parents (a merge has N).

    One index, the unique edge ``(trace_number, parent_id, child_id)``: it leads with the trace's number (see
    ``Trace``), so one trace's links sit together and the links a batch step writes land near the index's end.
    It finds a parent's children (trace and parent), and a child's parents among the trace's few links. Every
    look-up knows the trace (``LineageLink.objects.of_trace(trace_id)``): the child's or the parent's own (a
    split's children share their parent's trace). ``trace_id`` is kept for display, without an index.
    """

    child_type = models.CharField(max_length=100)
    child_id = models.UUIDField()
    parent_type = models.CharField(max_length=100)
    parent_id = models.UUIDField()
    ordinal = models.PositiveIntegerField()
    trace_id = models.UUIDField()
    trace_number = models.BigIntegerField()
    trace_created_at = models.DateTimeField()  # the partition key on PostgreSQL (``pipelines.store.partitions``)

    objects: ClassVar[TracedManager[Self]] = TracedManager()

    class Meta:
        verbose_name = "lineage link"
        verbose_name_plural = "lineage links"
        # PostgreSQL wants the partition key in every unique key. A trace has one creation time, so the edge
        # is as unique with it as without (``pipelines.store.partitions``).
        constraints = [
            models.UniqueConstraint(
                fields=["trace_number", "parent_id", "child_id", "trace_created_at"], name="lineage_unique_edge"
            )
        ]

    def __str__(self) -> str:
        return f"{self.parent_type} {self.parent_id} → {self.child_type} {self.child_id}"


class CheckpointLog(Ledger):
    """Every checkpoint, in insertion order, written in the transaction that inserts it.

    Found by trace (``CheckpointLog.objects.of_trace(trace_id)``: the ``(trace_number, seq)`` index) or by
    position (``seq``). ``trace_id`` is kept for display, ``checkpoint_id`` too: neither has an index, a random key
    in the largest table would cost every insert a page of its own; a checkpoint's trace is found through its own
    table's primary key (``opsconsole.selectors.trace_of``), and its log row within the trace.
    """

    seq = models.BigAutoField(primary_key=True)
    checkpoint_type = models.CharField(max_length=100)
    checkpoint_id = models.UUIDField()  # one row per checkpoint: written only with the checkpoint's own insert
    trace_id = models.UUIDField()
    trace_number = models.BigIntegerField()
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    publication = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_index=True)
    trace_created_at = models.DateTimeField()  # the partition key on PostgreSQL (``pipelines.store.partitions``)

    objects: ClassVar[TracedManager[Self]] = TracedManager()

    class Meta:
        verbose_name = "checkpoint log entry"
        verbose_name_plural = "checkpoint log entries"
        indexes = [models.Index(fields=["trace_number", "seq"], name="log_trace_number_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.checkpoint_type} at {self.pipeline}/{self.step}"


class ErrorSinkEntry(Ledger):
    """One failed attempt of one item at one step, recorded after the step's transaction rolled back."""

    LOCAL = "local"  # the ``source`` of an entry this instance recorded; any other names the instance that forwarded it

    id = models.UUIDField(primary_key=True, editable=False)
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    item_type = models.CharField(max_length=100)
    item_id = models.UUIDField(db_index=True)
    trace_id = models.UUIDField(db_index=True)
    error_class = models.CharField(max_length=200)
    error_code = models.CharField(max_length=100)
    retryable = models.BooleanField()
    message = models.TextField()
    traceback = models.TextField()
    payload = models.JSONField()
    attempt = models.PositiveIntegerField()
    source = models.CharField(max_length=100, default=LOCAL)
    # The lineage branch the attempt ran on (its parked item's): a fork's first step fails on an input of the
    # parent branch, where the parent may have failed too. The database's default too: a node of the release before
    # the column, still serving while the schema is migrated (docs/operations.md, "Upgrading"), inserts without it.
    branch = models.CharField(max_length=36, default=MAIN_BRANCH, db_default=MAIN_BRANCH)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "error sink entry"
        verbose_name_plural = "error sink entries"
        indexes = [models.Index(fields=["pipeline", "step", "error_class"], name="sink_group")]

    def __str__(self) -> str:
        return f"{self.error_class.rsplit('.', 1)[-1]} at {self.pipeline}/{self.step}, attempt {self.attempt}"


class ParkedItem(Ledger):
    """An item whose step failed: where to resume (pipeline, step, input, branch) and with what external event."""

    id = models.UUIDField(primary_key=True, editable=False)
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    item_type = models.CharField(max_length=100)
    item_id = models.UUIDField(db_index=True)
    trace_id = models.UUIDField(db_index=True)
    idempotency_key = models.CharField(max_length=200)
    event = models.JSONField(null=True)
    # A source item has no checkpoint yet: its command is kept here, so nothing accepted is lost.
    command = models.JSONField(null=True)
    # A merge's inputs, by id.
    merge_ids = models.JSONField(null=True)
    # The lineage branch the step failed on: its retries and redrives run there. A fork's first step takes a
    # checkpoint of the parent branch as its input, so the input's own branch would be the parent's. The database's
    # default too, for a node of the release before the column (it inserts without it while the schema is migrated).
    branch = models.CharField(max_length=36, default=MAIN_BRANCH, db_default=MAIN_BRANCH)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "parked item"
        verbose_name_plural = "parked items"

    def __str__(self) -> str:
        return f"{self.item_type} parked at {self.pipeline}/{self.step}"


class RetryScheduled(Ledger):
    """Attempt ``attempt`` of a parked item is due at ``due_at`` (one row per scheduled attempt)."""

    parked = models.ForeignKey(ParkedItem, on_delete=models.PROTECT, related_name="schedules")
    attempt = models.PositiveIntegerField()
    due_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "scheduled retry"
        verbose_name_plural = "scheduled retries"
        constraints = [models.UniqueConstraint(fields=["parked", "attempt"], name="retry_schedule_once")]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of parked item {self.parked_id}, due {self.due_at}"


class RetryClaim(Ledger):
    """A worker took attempt ``attempt``: the unique insert is the claim, so two workers never both run it."""

    parked = models.ForeignKey(ParkedItem, on_delete=models.PROTECT, related_name="claims")
    attempt = models.PositiveIntegerField()
    worker = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "retry claim"
        verbose_name_plural = "retry claims"
        constraints = [models.UniqueConstraint(fields=["parked", "attempt"], name="retry_claim_once")]
        # The sweeper looks for claims that never finished (a worker died) within a window of recent claims.
        indexes = [models.Index(fields=["created_at"], name="retry_claim_created")]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of parked item {self.parked_id}, claimed by {self.worker}"


class RetryTakeover(Ledger):
    """A run went on with attempt ``attempt`` whose claim another run had made and left without an outcome (its lock
    was free: it had died). The claim keeps the first run's name; each take-over names the run that took it over."""

    parked = models.ForeignKey(ParkedItem, on_delete=models.PROTECT, related_name="takeovers")
    attempt = models.PositiveIntegerField()
    worker = models.CharField(max_length=200)
    taken_from = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "retry take-over"
        verbose_name_plural = "retry take-overs"
        indexes = [models.Index(fields=["parked", "attempt"], name="retry_takeover_attempt")]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of parked item {self.parked_id}, taken over by {self.worker}"


class SweepTick(Ledger):
    """One sweep ran for time slot ``tick`` (``TPFGO_SWEEP_SECONDS`` long, counted from the epoch).

    The sweep task claims its slot with this unique insert before sweeping, so a slot is swept at most once however
    many beats (or redelivered messages) ask; beat asks twice per slot, so a slot with no row is a slot no beat
    ran in. "The sweeper ran once per tick" is a query over this table (docs/operations.md).
    """

    tick = models.BigIntegerField(unique=True)
    node = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "sweep tick"
        verbose_name_plural = "sweep ticks"

    def __str__(self) -> str:
        return f"sweep of slot {self.tick} by {self.node}"


class SweepDispatch(Ledger):
    """The sweeper sent one message for work it found lost: a resume of a position (``subject`` the trace,
    ``number`` its seq) or an attempt of a parked item (``subject`` the item, ``number`` the attempt).

    Send ``send`` of that work, made at ``created_at``; the sweeper sends it again only after ``resend_at``, and
    each interval is twice the one before (``pipelines.recovery.resends``), so behind a long backlog the queue holds
    a few copies of the same work, not one per sweep.
    """

    RESUME = "resume"
    RETRY = "retry"
    KINDS = [(RESUME, "resume"), (RETRY, "retry")]

    kind = models.CharField(max_length=10, choices=KINDS)
    subject = models.UUIDField()
    number = models.PositiveIntegerField()
    send = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    resend_at = models.DateTimeField()

    class Meta:
        verbose_name = "sweep dispatch"
        verbose_name_plural = "sweep dispatches"
        constraints = [
            models.UniqueConstraint(fields=["subject", "number", "kind", "send"], name="sweep_dispatch_once")
        ]
        indexes = [models.Index(fields=["created_at"], name="sweep_dispatch_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}:{self.number}, send {self.send}"


class ParkingOutcome(Ledger):
    """How a parked item ended (for now): resolved, dead-lettered or cancelled. The newest row counts."""

    RESOLVED = "resolved"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"

    parked = models.ForeignKey(ParkedItem, on_delete=models.PROTECT, related_name="outcomes")
    outcome = models.CharField(max_length=20)
    reason = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveIntegerField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "parking outcome"
        verbose_name_plural = "parking outcomes"

    def __str__(self) -> str:
        return f"{self.outcome} after {self.attempts} attempts (parked item {self.parked_id})"


class OpenParked(models.Model):
    """A parked item no outcome has closed (still retrying) or whose newest outcome is a dead letter: derived,
    kept by database triggers on the parking tables (``pipelines.store.open_parked``), never written by the application,
    rebuilt after every migrate. The console's dashboard reads it instead of every parked item ever."""

    tpfgo_kind = "mutable"
    tpfgo_derived = True  # written only by its triggers, as their owner (pipelines.store.db_roles)

    parked_id = models.UUIDField(primary_key=True)
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    trace_id = models.UUIDField()
    dead_at = models.DateTimeField(null=True)  # set while its newest outcome is a dead letter

    class Meta:
        indexes = [models.Index(fields=["dead_at"], name="open_parked_dead_at")]


class OpenPosition(models.Model):
    """A ``CheckpointLog`` position its trace has not gone on from: the sweeper's frontier. Derived, kept by
    database triggers on the log and the resumptions (``pipelines.store.open_positions``), never written by the
    application, rebuilt after every migrate. A row leaves when a newer row of its pipeline or of one downstream
    of it is logged, when the sweeper decides it for good, or when its log row goes; a terminal publication never
    enters. The sweeper reads this instead of every log row of its window."""

    tpfgo_kind = "mutable"
    tpfgo_derived = True  # written only by its triggers, as their owner (pipelines.store.db_roles)

    seq = models.BigIntegerField(primary_key=True)
    trace_number = models.BigIntegerField()
    trace_id = models.UUIDField()
    pipeline = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    trace_created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The triggers' "went on from" probe is (trace_number =, seq <): one index answers both, so the
            # planner never combines the trace's few rows with a range over the whole table (docs/performance.md).
            models.Index(fields=["trace_number", "seq"], name="open_position_trace_seq"),
            models.Index(fields=["created_at"], name="open_position_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} of {self.pipeline} (trace {self.trace_id})"


class FlowRule(models.Model):
    """The composition's flow as the frontier's triggers read it (``pipelines.store.open_positions``): ``after``
    rows (a newer row of pipeline ``other`` means the trace went on from a row of pipeline ``name``) and
    ``terminal`` rows (publication ``name`` ends a trace), and their ``fingerprint``. Written from the composition
    after every migrate."""

    tpfgo_kind = "mutable"
    tpfgo_derived = True  # written with the frontier's rebuild, by the owner; the serving role only reads it

    AFTER = "after"
    TERMINAL = "terminal"
    FINGERPRINT = "fingerprint"  # one row: a digest of the others, named in the sweeper's query

    kind = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    other = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name", "other"], name="flow_rule_once")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.name} {self.other}".strip()


class OpsAction(Ledger):
    """Who ran which remediation on which item, why and when, and what it inserted."""

    id = models.UUIDField(primary_key=True, editable=False)
    action = models.CharField(max_length=100)
    trace_id = models.UUIDField(db_index=True)
    target_id = models.UUIDField(null=True)
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    preview_seq = models.BigIntegerField(null=True)
    result = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "ops action"
        verbose_name_plural = "ops actions"

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} on {self.trace_id}"


class ForkedFrom(Ledger):
    """A fork: a trace re-run on a new lineage branch from one of its stored checkpoints, with today's code.

    The id is the branch (deterministic from the parent branch, the checkpoint and the effect-key choice), so the
    same fork again finds this row. ``from_seq`` is the checkpoint-log position the branch starts after: the
    parent's checkpoints logged up to it are the fork's history, those after it are superseded on the fork's view.
    ``new_effect_keys``: external effects on the branch use keys of their own instead of the parent's (the
    operator opted in to a second charge, say); by default they reuse the parent's, so a gateway answers a
    capture already made with that capture.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    trace_id = models.UUIDField(db_index=True)
    parent_branch = models.CharField(max_length=36)
    from_type = models.CharField(max_length=100)
    from_id = models.UUIDField()
    from_seq = models.BigIntegerField()
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    new_effect_keys = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "fork"
        verbose_name_plural = "forks"
        # The sweeper looks for forks cut before their first step by a ``created_at`` window (``recovery.forks.cut``).
        indexes = [models.Index(fields=["created_at"], name="forked_from_created")]

    def __str__(self) -> str:
        return f"fork {self.id} of trace {self.trace_id} from {self.from_type} {self.from_id}"

    @property
    def branch(self) -> str:
        return str(self.id)


class BulkRun(Ledger):
    """A remediation over many traces, as submitted: the action, who, why, and the plan (each trace with the
    checkpoint-log position its preview showed and the ops actions taken on it by then). The id is derived from the
    plan, so submitting the same preview again finds this row instead of starting a second run. Progress is derived
    from its ``BulkRunResult`` rows."""

    id = models.UUIDField(primary_key=True, editable=False)
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict)
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    plan = models.JSONField()  # [[trace id, expected seq, ops actions seen], ...] in the order they run
    total = models.PositiveIntegerField()
    created_at = models.DateTimeField(db_index=True)
    # A re-run: the finished run of the same plan the operator asked to run again (its id is in this one's).
    again_of = models.UUIDField(null=True, blank=True)

    def __str__(self) -> str:
        return f"bulk {self.action} of {self.total} by {self.actor}"


class BulkRunResult(Ledger):
    """What a bulk run did to one trace: done, skipped (it moved since the preview) or failed, and why.

    The unique (run, trace) insert is the "already done" guard: a resumed or resubmitted run never acts twice.
    """

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    run = models.ForeignKey(BulkRun, on_delete=models.PROTECT, related_name="results")
    trace_id = models.UUIDField()
    position = models.PositiveIntegerField()  # the trace's index in the run's plan
    outcome = models.CharField(max_length=20)
    detail = models.TextField(blank=True)
    ops_action_id = models.UUIDField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "trace_id"], name="bulk_result_once")]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.trace_id} (#{self.position} of bulk run {self.run_id})"


class Resumption(Ledger):
    """The sweeper's decision about a trace left at checkpoint ``seq``: resumed through the engine, or skipped.

    The unique insert is the claim: one sweeper resumes a position once per ``attempt`` (a resume that died
    with its worker is tried again, a bounded number of times). ``composition``: the fingerprint of the composition
    a skip that only it decided was made under (nothing follows the position in it); blank for every other decision,
    which holds under any composition.
    """

    RESUMED = "resumed"
    SKIPPED = "skipped"

    trace_id = models.UUIDField()
    seq = models.BigIntegerField()
    attempt = models.PositiveIntegerField()
    decision = models.CharField(max_length=20)
    detail = models.CharField(max_length=300, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    composition = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "resumption"
        verbose_name_plural = "resumptions"
        constraints = [
            models.UniqueConstraint(fields=["trace_id", "seq", "attempt"], name="resumption_once"),
        ]

    def __str__(self) -> str:
        return f"{self.decision}: trace {self.trace_id} at seq {self.seq}, attempt {self.attempt}"


class ObserverPosition(models.Model):
    """How far a checkpoint observer has read the checkpoint log: a mutable cursor, moved forward as it reads.

    ``skipped`` holds the seq ranges it stopped waiting for (``[first, last, since]``), re-checked for a while
    in case a slow transaction commits them late.
    """

    tpfgo_kind = "mutable"

    name = models.CharField(max_length=200, primary_key=True)
    seq = models.BigIntegerField(default=0)
    skipped = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.seq}"


class Subscriber(Ledger):
    """A named remote follower of one publication (``pipelines.transport.subscriptions``), recorded at its first
    connect.

    ``contract_version`` is the version it connected with; ``created_at`` its first connect. Where it stands is
    its newest acknowledgement (``SubscriberAck``).
    """

    name = models.CharField(max_length=200)
    publication = models.CharField(max_length=200)
    contract_version = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "subscriber"
        verbose_name_plural = "subscribers"
        constraints = [models.UniqueConstraint(fields=["name", "publication"], name="subscriber_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} on {self.publication}"


class SubscriberAck(Ledger):
    """A subscriber acknowledged every item of its publication up to log position ``position``.

    Insert-only: one row per acknowledgement, so the history of a subscriber's progress is kept; its position
    is the highest acknowledged one (``(subscriber, position)`` index).
    """

    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="acks")
    position = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "subscriber acknowledgement"
        verbose_name_plural = "subscriber acknowledgements"
        indexes = [models.Index(fields=["subscriber", "position"], name="subscriber_ack_position")]

    def __str__(self) -> str:
        return f"subscriber {self.subscriber_id} acknowledged up to {self.position}"


class SubscriberLease(models.Model):
    """The one follow that may read for a named subscriber now (``pipelines.transport.subscriber_leases``): at most
    one live follow per subscriber, across processes and nodes, so their acknowledgements never mix.

    Mutable bookkeeping, never history: a follow takes the row (an insert, or an update of a row that expired),
    renews ``expires_at`` while it streams and deletes it when it ends; a row whose holder died expires.
    """

    tpfgo_kind = "mutable"

    subscriber = models.OneToOneField(Subscriber, primary_key=True, on_delete=models.PROTECT, related_name="lease")
    holder = models.CharField(max_length=200)  # host, process and follow: who took it
    taken_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "subscriber lease"
        verbose_name_plural = "subscriber leases"

    def __str__(self) -> str:
        return f"subscriber {self.subscriber_id} followed by {self.holder} until {self.expires_at}"


class StepPause(Ledger):
    """An operator paused a step, for every item or for the items whose pause key ``key`` is ``value``.

    A fact written once: the pause is active while no ``StepResume`` names it (``pipelines.engine.pauses``). Items that
    reach the step meanwhile are held (``PausedItem``), their step not called.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    key = models.CharField(max_length=100, blank=True)  # a name of the composition's pause_keys; blank: every item
    value = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        scope = f" for {self.key}={self.value}" if self.key else ""
        return f"{self.pipeline}.{self.step}{scope}"


class StepResume(Ledger):
    """A pause ended: its held items drain ``per_interval`` every ``interval`` seconds from ``created_at``."""

    pause = models.ForeignKey(StepPause, on_delete=models.PROTECT, related_name="resumes")
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    per_interval = models.PositiveIntegerField()
    interval = models.FloatField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pause"], name="step_resume_once")]

    def __str__(self) -> str:
        return f"resume of pause {self.pause_id} by {self.actor}, {self.per_interval} per {self.interval} s"


class PausedItem(Ledger):
    """An item held at a paused step: parked (``parked``) with reason PAUSED, its step not called, and its
    attempt ``attempt`` (the one it runs when released) not spent."""

    parked = models.ForeignKey(ParkedItem, on_delete=models.PROTECT, related_name="holds")
    pause = models.ForeignKey(StepPause, on_delete=models.PROTECT, related_name="holds")
    attempt = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["parked", "pause"], name="paused_item_once")]
        indexes = [models.Index(fields=["pause", "created_at"], name="paused_item_order")]

    def __str__(self) -> str:
        return f"parked item {self.parked_id} held by pause {self.pause_id} (attempt {self.attempt})"


class PauseRelease(Ledger):
    """The drain let a held item go: its attempt is due at ``due_at``; ``slot`` is its place in the drain.

    Unique per hold and per (pause, slot): two drains running at once can never release more than the rate allows.
    """

    hold = models.ForeignKey(PausedItem, on_delete=models.PROTECT, related_name="releases")
    pause = models.ForeignKey(StepPause, on_delete=models.PROTECT, related_name="releases")
    slot = models.PositiveIntegerField()
    due_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hold"], name="pause_release_once"),
            models.UniqueConstraint(fields=["pause", "slot"], name="pause_release_slot"),
        ]

    def __str__(self) -> str:
        return f"slot {self.slot} of pause {self.pause_id}: hold {self.hold_id} due {self.due_at}"


class WaitOpened(Ledger):
    """A step answered ``AWAIT`` for this input: its wait began, with the first round's deadline.

    The id is deterministic (``pipelines.store.waits.wait_id``): a step that waits again for the same input on the
    same branch opens nothing new, and the deadline counts from the first time it waited.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    item_type = models.CharField(max_length=100)
    item_id = models.UUIDField()
    trace_id = models.UUIDField()
    idempotency_key = models.CharField(max_length=200)
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    # The lineage branch the step waits on: the event and the deadline resume it there. A fork's first step takes a
    # checkpoint of the parent branch as its input, so the input's own branch would be the parent's.
    branch = models.CharField(max_length=36, default=MAIN_BRANCH, db_default=MAIN_BRANCH)

    class Meta:
        verbose_name = "wait opened"
        verbose_name_plural = "waits opened"
        # The purge finds a trace's waits by it (few rows: only steps that await write here).
        indexes = [models.Index(fields=["trace_id"], name="wait_opened_trace")]

    def __str__(self) -> str:
        return f"{self.pipeline}/{self.step} waiting since {self.opened_at}, first due {self.due_at}"


class WaitEnded(Ledger):
    """How one round of a wait ended: ``resolved`` (its event came), ``expired`` (its deadline passed and the
    round's pipeline ran) or ``settled`` (another path wrote one of its ``settled_by`` facts).

    The id is deterministic from (wait, round): the event and the deadline race for this one row, so exactly one
    of them ends a round. ``next_due_at`` re-arms the wait for the next round (an expired round that is not the
    last); null closes it.
    """

    RESOLVED, EXPIRED, SETTLED = "resolved", "expired", "settled"

    id = models.UUIDField(primary_key=True, editable=False)
    wait_id = models.UUIDField()
    round = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20)
    next_due_at = models.DateTimeField(null=True)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "wait round ended"
        verbose_name_plural = "wait rounds ended"

    def __str__(self) -> str:
        return f"round {self.round} of wait {self.wait_id}: {self.outcome}"


class WaitExtended(Ledger):
    """A round's deadline moved later (a pause of the step behind the wait): the new deadline and why."""

    id = models.UUIDField(primary_key=True, editable=False)
    wait_id = models.UUIDField()
    round = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "wait extended"
        verbose_name_plural = "waits extended"

    def __str__(self) -> str:
        return f"round {self.round} of wait {self.wait_id} now due {self.due_at}"


class OpenWait(models.Model):
    """A wait no round has closed: derived, kept by database triggers on the wait ledgers
    (``pipelines.store.open_waits``), never written by the application, rebuilt after every migrate. The deadline beat
    task and the dashboard read it (by ``due_at``), not every wait ever."""

    tpfgo_kind = "mutable"
    tpfgo_derived = True  # written only by its triggers, as their owner (pipelines.db_roles)

    wait_id = models.UUIDField(primary_key=True)
    pipeline = models.CharField(max_length=100)
    step = models.CharField(max_length=100)
    trace_id = models.UUIDField()
    item_id = models.UUIDField()
    round = models.PositiveIntegerField()
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], name="open_wait_due"),
            models.Index(fields=["pipeline", "step", "due_at"], name="open_wait_step_due"),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline}/{self.step} waiting since {self.opened_at}, due {self.due_at}"


class PurgeRecord(Ledger):
    """One batch of the audited purge (``pipelines.recovery.retention``): who ran it under which policy, the cutoff,
    the range of ids it removed and how many rows per table, written in the batch's own transaction (a batch that
    did not commit left no record and removed nothing)."""

    id = models.UUIDField(primary_key=True, editable=False)
    # A key of TPFGO_RETENTION: orders, error_sink, parked, ops_actions, sweep_ticks.
    policy = models.CharField(max_length=40)
    actor = models.CharField(max_length=200)
    cutoff = models.DateTimeField()
    first_id = models.CharField(max_length=100)  # the range removed: trace numbers for orders, else row ids/keys
    last_id = models.CharField(max_length=100)
    items = models.PositiveIntegerField()  # orders, entries or parked items removed
    rows = models.JSONField(default=dict)  # {table: rows deleted}
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "purge record"
        verbose_name_plural = "purge records"

    def __str__(self) -> str:
        return f"purge of {self.items} ({self.policy}) by {self.actor} at {self.created_at}"


class Tombstone(Ledger):
    """What is left of a purged trace: its id, its idempotency key and when it was purged, so a replayed key or a
    look-up of the id is answered ``PURGED`` instead of starting a new trace or finding nothing."""

    trace_id = models.UUIDField(primary_key=True)
    idempotency_key = models.CharField(max_length=200, db_index=True)
    purged_at = models.DateTimeField()
    purge_id = models.UUIDField()  # its PurgeRecord

    class Meta:
        verbose_name = "tombstone"
        verbose_name_plural = "tombstones"

    def __str__(self) -> str:
        when = f" on {self.purged_at:%Y-%m-%d}" if self.purged_at is not None else ""  # an unsaved row has none yet
        return f"trace {self.trace_id} purged{when}"


class QueuedHandoff(models.Model):
    """A checkpoint of a ``queue`` publication handed to one subscriber pipeline's queue and not consumed yet.

    Mutable bookkeeping of the queue mode (``pipelines.engine.queues``), never the source of truth: the checkpoint
    log is the outbox (a hand-off lost before this row was written is found there by the sweeper). The engine
    inserts the row when it publishes, the worker deletes it once the subscriber pipeline ran; the rows of a
    pipeline are its backlog (admission's queue bound), those of a trace its pipelines in progress (the order view),
    and one not re-sent for ``TPFGO_QUEUE_RESEND_SECONDS`` is sent again by the sweeper.
    """

    tpfgo_kind = "mutable"

    id = models.UUIDField(primary_key=True, editable=False)  # deterministic: (checkpoint, subscriber pipeline)
    pipeline = models.CharField(max_length=100)
    publication = models.CharField(max_length=200)
    trace_id = models.UUIDField()
    checkpoint_type = models.CharField(max_length=100)
    checkpoint_id = models.UUIDField()
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField()

    class Meta:
        verbose_name = "queued hand-off"
        verbose_name_plural = "queued hand-offs"
        indexes = [
            models.Index(fields=["pipeline"], name="queued_handoff_pipeline"),
            models.Index(fields=["trace_id"], name="queued_handoff_trace"),
            models.Index(fields=["sent_at"], name="queued_handoff_sent_at"),
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint_type} {self.checkpoint_id} for {self.pipeline}"
