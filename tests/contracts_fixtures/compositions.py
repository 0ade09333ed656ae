"""Compositions for the contract checks: the lane with one thing broken each (and a few sound variants).

Settings name them by path (``TPFGO_COMPOSITION = "tests.contracts_fixtures.compositions.TYPE_MISMATCH"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pipelines.contracts.declarations import (
    Branch,
    Composition,
    Deadline,
    Mapper,
    Pipeline,
    Publication,
    Step,
    Subscription,
    aux,
    primary,
)
from pipelines.contracts.steps import Output, StepContext
from tests.contracts_fixtures.models import (
    IndexedRenamed,
    IndexedRenumbered,
    IndexedRetyped,
    IndexedV2,
    IndexedWithLanguage,
    IndexedWithoutTokens,
    NoteOfReceived,
    PublishedOfReceived,
    PublishedOnForks,
    PublishedWithNotes,
)
from tests.lane import branches
from tests.lane import composition as lane
from tests.lane.models import (
    DocumentAudit,
    DocumentIndexed,
    DocumentPublished,
    DocumentReceived,
    DocumentStats,
)

LANE = lane.COMPOSITION


def _consumer_of(*inputs: type[Any]) -> Composition:
    """The lane, with ``publish`` declaring other inputs (and, for a DocumentReceived, a step that reads it)."""
    publish = dataclasses.replace(lane.PUBLISH, inputs=inputs)
    if inputs == (DocumentReceived,):
        publish = dataclasses.replace(publish, steps=(Step("publish", lane.manual_publish, DocumentPublished),))
    return dataclasses.replace(LANE, pipelines=(lane.INGEST, publish, lane.MANUAL))


def _indexing(model: type[Any], publication: str, keys: tuple[str, ...] = ("docId",)) -> Composition:
    """The lane, with ``ingest/index`` writing ``model`` as ``publication``, which ``publish`` takes."""
    steps = (*lane.INGEST.steps[:2], dataclasses.replace(lane.INGEST.steps[2], model=model))
    ingest = dataclasses.replace(lane.INGEST, steps=steps, output=Publication(publication, model, keys))
    publish = dataclasses.replace(lane.PUBLISH, inputs=(model,))
    return Composition(
        pipelines=(ingest, publish, lane.MANUAL),
        subscriptions=(Subscription(publication, "publish"),),
        terminal=LANE.terminal,
    )


TYPE_MISMATCH = _consumer_of(DocumentReceived)
FIELD_NAME_MISMATCH = _consumer_of(IndexedRenamed)
FIELD_TYPE_MISMATCH = _consumer_of(IndexedRetyped)
FIELD_NUMBER_MISMATCH = _consumer_of(IndexedRenumbered)

MISSING_PRODUCER = dataclasses.replace(
    LANE, subscriptions=(*LANE.subscriptions, Subscription("lane.indexed.v2", "publish"))
)


def reindex(ctx: StepContext[DocumentReceived]) -> Output:
    return Output({"doc_id": ctx.input.doc_id, "digest": "again", "tokens": 0})


REINDEX = Pipeline(
    name="reindex",
    inputs=(DocumentReceived,),
    steps=(Step("reindex", reindex, DocumentIndexed),),
    output=lane.INDEXED,
    kind="remediation",
)
DUPLICATE_PRODUCER = dataclasses.replace(LANE, pipelines=(*LANE.pipelines, REINDEX))


# The mapper maps a pair the handoff does not have; MAPPED is the same handoff with the right mapper, whose
# consumer reads what only the target has (its text).
def received_from_indexed(indexed: DocumentIndexed) -> dict[str, object]:
    return {"doc_id": indexed.doc_id, "text": f"{indexed.tokens} tokens"}


def publish_received(ctx: StepContext[DocumentReceived]) -> Output:
    lane.maybe_fail("publish", ctx.attempt)
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.text})


def publish_either(ctx: StepContext[DocumentReceived | DocumentIndexed]) -> Output:
    return Output({"doc_id": ctx.input.doc_id, "digest": "either"})


def _mapped(*mappers: Mapper, inputs: tuple[type[Any], ...] = (DocumentReceived,)) -> Composition:
    process = publish_received if inputs == (DocumentReceived,) else publish_either
    publish = dataclasses.replace(lane.PUBLISH, inputs=inputs, steps=(Step("publish", process, DocumentPublished),))
    return dataclasses.replace(
        LANE,
        pipelines=(lane.INGEST, publish, lane.MANUAL),
        subscriptions=tuple(Subscription("lane.indexed.v1", "publish", m) for m in mappers),
    )


MAPPER_MISMATCH = _mapped(Mapper(DocumentReceived, DocumentPublished, lambda received: {"doc_id": received.doc_id}))
MAPPED = _mapped(Mapper(DocumentIndexed, DocumentReceived, received_from_indexed))
MAPPED_FIELDS_MISMATCH = _mapped(Mapper(IndexedRenamed, DocumentReceived, received_from_indexed))


# A mapper that cannot apply (E047): no function, a function of another model, a consumer that also takes the source.
def received_from_published(published: DocumentPublished) -> dict[str, object]:
    return {"doc_id": published.doc_id, "text": published.digest}


MAPPER_WITHOUT_FUNCTION = _mapped(Mapper(DocumentIndexed, DocumentReceived, None))  # type: ignore[arg-type]
MAPPER_READS_ANOTHER_MODEL = _mapped(Mapper(DocumentIndexed, DocumentReceived, received_from_published))
MAPPER_OF_A_TAKEN_TYPE = _mapped(
    Mapper(DocumentIndexed, DocumentReceived, received_from_indexed), inputs=(DocumentReceived, DocumentIndexed)
)
MAPPED_TWICE = _mapped(
    Mapper(DocumentIndexed, DocumentReceived, received_from_indexed),
    Mapper(DocumentIndexed, DocumentReceived, lambda indexed: {"doc_id": indexed.doc_id, "text": indexed.digest}),
)
# A mapper whose function leaves out a required field of its target: refused at run time (a ContractError).
MAPPED_MISFIT = _mapped(Mapper(DocumentIndexed, DocumentReceived, lambda indexed: {"doc_id": indexed.doc_id}))


# A mapped first step whose model has a foreign key to the target: it would name ctx.input.pk, the source's id (E049).
def publish_pointing(ctx: StepContext[DocumentReceived]) -> Output:
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.text, "received_id": ctx.input.pk})


def _pointing(model: type[Any], process: Callable[..., Output] = publish_pointing) -> Composition:
    publish = dataclasses.replace(
        lane.PUBLISH,
        inputs=(DocumentReceived,),
        steps=(Step("publish", process, model),),
        output=dataclasses.replace(lane.PUBLISHED, model=model),
    )
    return dataclasses.replace(MAPPED, pipelines=(lane.INGEST, publish, lane.MANUAL))


MAPPED_KEY_TO_TARGET = _pointing(PublishedOfReceived)


# The same key on a child row the mapped step builds (a note naming ctx.input.pk), its own model without one (E049).
def publish_noting(ctx: StepContext[DocumentReceived]) -> Output:
    notes = [NoteOfReceived(published_id=ctx.output_id, received_id=ctx.input.pk, note="mapped")]
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.text}, children=notes)


MAPPED_CHILD_KEY_TO_TARGET = _pointing(PublishedWithNotes, publish_noting)

# A step writes a model forks write too whose business key does not end with its branch column (E050).
BRANCH_NOT_LAST_IN_KEY = dataclasses.replace(
    LANE,
    pipelines=(
        lane.INGEST,
        dataclasses.replace(
            lane.PUBLISH,
            steps=(dataclasses.replace(lane.PUBLISH.steps[0], model=PublishedOnForks),),
            output=dataclasses.replace(lane.PUBLISHED, model=PublishedOnForks),
        ),
        lane.MANUAL,
    ),
)

MISSING_KEY_FIELD = _indexing(DocumentIndexed, "lane.indexed.v1", keys=("documentId",))

# Nothing ends at DocumentPublished any more: neither of its publications is terminal or subscribed.
DEAD_END = dataclasses.replace(LANE, terminal=frozenset({"lane.refused.v1"}))

# Drift against a lock recorded from the lane: a field removed under .v1, the same change as .v2, a field added.
BREAKING_WITHOUT_BUMP = _indexing(IndexedWithoutTokens, "lane.indexed.v1")
BREAKING_WITH_BUMP = _indexing(IndexedV2, "lane.indexed.v2")
ADDITIVE = _indexing(IndexedWithLanguage, "lane.indexed.v1")

# A step that waits for an event with no deadline, and a deadline that runs a pipeline nobody declared.
_AWAITING = dataclasses.replace(lane.PUBLISH.steps[0], awaits=True)
AWAIT_WITHOUT_DEADLINE = dataclasses.replace(
    LANE, pipelines=(lane.INGEST, dataclasses.replace(lane.PUBLISH, steps=(_AWAITING,)), lane.MANUAL)
)


def _deadline_runs(*pipelines: str) -> Composition:
    deadlined = dataclasses.replace(_AWAITING, deadline=Deadline("TPFGO_PICKUP_DEADLINE_MINUTES", pipelines))
    return dataclasses.replace(
        LANE, pipelines=(lane.INGEST, dataclasses.replace(lane.PUBLISH, steps=(deadlined,)), lane.MANUAL)
    )


DEADLINE_UNKNOWN_PIPELINE = _deadline_runs("manual-publsh")
# The deadline hands publish's input (a DocumentIndexed) to manual-publish, which takes a DocumentReceived (E048);
# DEADLINE_TO_ITSELF resumes the waiting pipeline itself, which takes it.
DEADLINE_INPUT_MISMATCH = _deadline_runs("manual-publish")
DEADLINE_TO_ITSELF = _deadline_runs("publish")
# Two rounds, each running manual-publish: the second round is refused at the same step as the first.
DEADLINE_INPUT_MISMATCH_TWICE = _deadline_runs("manual-publish", "manual-publish")


def _waiting_on_either(awaits: Any) -> Composition:
    """``publish`` takes a DocumentIndexed or a DocumentReceived and waits (as ``awaits`` says); its deadline runs
    manual-publish, which takes a DocumentReceived only."""
    deadline = Deadline("TPFGO_PICKUP_DEADLINE_MINUTES", ("manual-publish",))
    step = Step("publish", publish_either, DocumentPublished, awaits=awaits, deadline=deadline)
    publish = dataclasses.replace(lane.PUBLISH, inputs=(DocumentIndexed, DocumentReceived), steps=(step,))
    return dataclasses.replace(LANE, pipelines=(lane.INGEST, publish, lane.MANUAL))


def indexed_waits(value: DocumentIndexed | DocumentReceived) -> bool:
    return isinstance(value, DocumentIndexed)


# awaits=True: every input may wait, and a DocumentIndexed is one manual-publish does not take (E048). With a
# predicate, which input waits is data: one it takes is enough at check time (the round refuses another).
DEADLINE_INPUT_PARTLY_TAKEN = _waiting_on_either(True)
DEADLINE_INPUT_PARTLY_TAKEN_BY_DATA = _waiting_on_either(indexed_waits)


# A step inserted before ``publish`` that writes another model than the one ``publish`` reads.
def audit_indexed(ctx: StepContext[DocumentIndexed]) -> Output:
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.digest})


INPUT_MISMATCH = dataclasses.replace(
    LANE,
    pipelines=(
        lane.INGEST,
        dataclasses.replace(lane.PUBLISH, steps=(Step("audit", audit_indexed, DocumentAudit), *lane.PUBLISH.steps)),
        lane.MANUAL,
    ),
)


# -- the branch policy (tests.lane.branches declares the sound one) ---------------------------------------------------
def _publishing(*declared: Branch) -> Composition:
    """The lane, with the ``publish`` step declaring ``declared`` as its branches."""
    step = Step("publish", lane.publish, DocumentPublished, branches=declared)
    return dataclasses.replace(
        LANE, pipelines=(lane.INGEST, dataclasses.replace(lane.PUBLISH, steps=(step,)), lane.MANUAL)
    )


TWO_PRIMARIES = _publishing(primary("published", DocumentPublished), primary("again", DocumentPublished))
# An aux branch without a publication, subscribed to by its side pipeline's name.
UNDECLARED_BRANCH = dataclasses.replace(
    _publishing(primary("published", DocumentPublished), aux("stats", DocumentStats, branches.stats, optional=True)),
    subscriptions=(*LANE.subscriptions, Subscription("publish+stats", "manual-publish")),
)
REQUIRED_UNCONSUMED = _publishing(primary("published", DocumentPublished), aux("audit", DocumentAudit, branches.audit))
OPTIONAL_UNCONSUMED = _publishing(
    primary("published", DocumentPublished), aux("stats", DocumentStats, branches.stats, optional=True)
)


# -- delivery modes: a queue boundary is checked like any other handoff ------------------------------------------------
def _queued(comp: Composition, name: str = "lane.indexed.v1", mode: str = "queue") -> Composition:
    """``comp`` with the publication ``name`` declared in ``mode``."""
    pipelines = []
    for pipeline in comp.pipelines:
        if pipeline.output.name == name:
            pipeline = dataclasses.replace(pipeline, output=dataclasses.replace(pipeline.output, mode=mode))
        pipelines.append(pipeline)
    return dataclasses.replace(comp, pipelines=tuple(pipelines))


QUEUED = _queued(LANE)
QUEUED_TYPE_MISMATCH = _queued(TYPE_MISMATCH)
QUEUED_AWAIT_WITHOUT_DEADLINE = _queued(AWAIT_WITHOUT_DEADLINE)
QUEUED_WITHOUT_SUBSCRIBER = _queued(LANE, "lane.published.v1")
NOT_A_MODE = _queued(LANE, mode="async")
