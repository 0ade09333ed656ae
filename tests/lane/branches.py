"""The lane with aux branches beside its publication, declared through the public face only (``pipelines``).

``publish`` writes ``DocumentPublished`` (its primary), a required ``audit`` (written with it, or nothing is) and an
optional ``stats`` (written after it, on its own; its failure parks only itself). ``COUNTED`` adds a pipeline that
subscribes to the stats publication: the only way an aux output is handed off.
"""

from __future__ import annotations

import dataclasses

from pipelines import (
    Composition,
    Output,
    Pipeline,
    Produced,
    Publication,
    Step,
    StepContext,
    Subscription,
    aux,
    primary,
)
from tests.lane import composition as lane
from tests.lane.models import DocumentAudit, DocumentPublished, DocumentStats


def audit(ctx: StepContext[DocumentPublished]) -> Produced:
    lane.maybe_fail("audit", ctx.attempt)
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.digest})


def stats(ctx: StepContext[DocumentPublished]) -> Produced:
    lane.maybe_fail("stats", ctx.attempt)
    return Output({"doc_id": ctx.input.doc_id, "words": len(ctx.input.digest.split("|"))})


AUDITED = Publication("lane.audited.v1", DocumentAudit, ("docId",))
STATS = Publication("lane.stats.v1", DocumentStats, ("docId",))
PUBLISH_STEP = Step(
    "publish",
    lane.publish,
    DocumentPublished,
    retry=lane.FAST,
    branches=(
        primary("published", DocumentPublished),
        aux("audit", DocumentAudit, audit, publication=AUDITED),
        aux("stats", DocumentStats, stats, optional=True, publication=STATS, retry=lane.FAST),
    ),
)
PUBLISH = dataclasses.replace(lane.PUBLISH, steps=(PUBLISH_STEP,))
COMPOSITION = Composition(
    pipelines=(lane.INGEST, PUBLISH, lane.MANUAL),
    subscriptions=lane.COMPOSITION.subscriptions,
    terminal=lane.COMPOSITION.terminal | {AUDITED.name, STATS.name},
)


def count(ctx: StepContext[DocumentStats]) -> Produced:
    return Output({"doc_id": ctx.input.doc_id, "digest": f"{ctx.input.words} words"})


# The stats branch alone, subscribed to by ``count`` (which writes its own audit line from the stats).
STATS_ONLY = dataclasses.replace(PUBLISH_STEP, branches=(PUBLISH_STEP.branches[0], PUBLISH_STEP.branches[2]))
COUNT = Pipeline(
    name="count",
    inputs=(DocumentStats,),
    steps=(Step("count", count, DocumentAudit),),
    output=Publication("lane.counted.v1", DocumentAudit, ("docId",)),
)
COUNTED = Composition(
    pipelines=(lane.INGEST, dataclasses.replace(lane.PUBLISH, steps=(STATS_ONLY,)), lane.MANUAL, COUNT),
    subscriptions=(*lane.COMPOSITION.subscriptions, Subscription(STATS.name, "count")),
    terminal=lane.COMPOSITION.terminal | {"lane.counted.v1"},
)
