"""The lane's pipelines: ``ingest`` (receive → split → merge) and ``publish`` (subscribes to ingest)."""

from __future__ import annotations

from typing import Any

from pipelines.contracts.declarations import Composition, Pipeline, Publication, RetryPolicy, Step, Subscription
from pipelines.contracts.errors import NonRetryableError, RetryableError
from pipelines.contracts.steps import AWAIT, Command, Output, Produced, Split, StepContext
from tests.lane.models import (
    DocumentIndexed,
    DocumentPublished,
    DocumentReceived,
    DocumentRefused,
    DocumentTag,
    TokenIndexed,
)

# Tests flip these to make a step fail; a real step classifies its own errors the same way.
FAILURES: dict[str, Any] = {}


def maybe_fail(step: str, attempt: int) -> None:
    kind = FAILURES.get(step)
    if kind == "bug":
        raise RuntimeError(f"{step} exploded")
    if kind == "fatal":
        raise NonRetryableError(f"{step} found invalid data", code="INVALID_DATA")
    if kind == "write":  # a step that writes on its own (the engine refuses it on PostgreSQL)
        from django.contrib.auth.models import Group

        Group.objects.create(name=f"written by {step}")
    if kind == "reads":  # a step that reads a fact again through the store (a statement prepared on PostgreSQL)
        from pipelines import storage

        storage.first(DocumentReceived, idempotency_key="doc-1")
    if isinstance(kind, int) and attempt <= kind:
        raise RetryableError(f"{step} dependency unavailable (attempt {attempt})", code="UNAVAILABLE")


def receive(ctx: StepContext[Command]) -> Output:
    maybe_fail("receive", ctx.attempt)
    text = ctx.input.payload["text"].strip()
    doc_id = ctx.input.id
    if not text:
        return Output({"doc_id": doc_id, "reason": "EMPTY"}, model=DocumentRefused)
    tags = [DocumentTag(document_id=ctx.output_id, tag=t) for t in ctx.input.payload.get("tags", [])]
    return Output({"doc_id": doc_id, "text": text}, children=tags)


def tokenize(ctx: StepContext[DocumentReceived]) -> Split:
    maybe_fail("tokenize", ctx.attempt)
    words = sorted(set(ctx.input.text.split()))
    return Split(Output({"doc_id": ctx.input.doc_id, "token": w, "position": i}) for i, w in enumerate(words))


def index(ctx: StepContext[list[TokenIndexed]]) -> Output:
    maybe_fail("index", ctx.attempt)
    tokens = sorted(ctx.input, key=lambda t: str(t.pk))
    return Output({"doc_id": tokens[0].doc_id, "digest": "|".join(str(t.pk) for t in tokens), "tokens": len(tokens)})


def publish(ctx: StepContext[DocumentIndexed]) -> Produced:
    maybe_fail("publish", ctx.attempt)
    if FAILURES.get("publish") == "await" and not ctx.event:
        return AWAIT
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.digest})


FAST = RetryPolicy(max_attempts=4, base_delay=0.001, multiplier=2.0, cap=0.01)
INDEXED = Publication("lane.indexed.v1", DocumentIndexed, ("docId",))
REFUSED = Publication("lane.refused.v1", DocumentRefused, ("docId",))
PUBLISHED = Publication("lane.published.v1", DocumentPublished, ("docId",))

INGEST = Pipeline(
    name="ingest",
    inputs=(),
    source_namespace="document",
    steps=(
        Step("receive", receive, DocumentReceived, outcomes={DocumentRefused: REFUSED}, retry=FAST),
        Step("tokenize", tokenize, TokenIndexed, shape="split", retry=FAST),
        Step("index", index, DocumentIndexed, shape="merge", retry=FAST),
    ),
    output=INDEXED,
)
PUBLISH = Pipeline(
    name="publish",
    inputs=(DocumentIndexed,),
    steps=(Step("publish", publish, DocumentPublished, retry=FAST),),
    output=PUBLISHED,
)


def manual_publish(ctx: StepContext[DocumentReceived]) -> Output:
    return Output({"doc_id": ctx.input.doc_id, "digest": "by hand"})


# Another path to the same fact: it loses to whichever DocumentPublished got there first.
MANUAL = Pipeline(
    name="manual-publish",
    inputs=(DocumentReceived,),
    steps=(Step("manual_publish", manual_publish, DocumentPublished),),
    output=Publication("lane.manually-published.v1", DocumentPublished, ("docId",)),
    kind="remediation",
)
COMPOSITION = Composition(
    pipelines=(INGEST, PUBLISH, MANUAL),
    subscriptions=(Subscription("lane.indexed.v1", "publish"),),
    terminal=frozenset({"lane.published.v1", "lane.refused.v1"}),
)
