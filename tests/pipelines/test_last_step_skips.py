"""``pipelines.E028`` and a last step that may SKIP: the runner hands off the output publication whenever the value the
last step hands on is its model, so a last step that may SKIP an input of that model hands the output off too. The
check reads "may SKIP" from the declarations (a return type that admits ``Skip``, narrowed by ``Step.skips``) and
accepts the pipeline then, and only then."""

from __future__ import annotations

import dataclasses

import pytest

from pipelines.contracts.checks import check_composition
from pipelines.contracts.declarations import Composition, Pipeline, Step, Subscription
from pipelines.contracts.steps import SKIP, Output, Produced, StepContext
from pipelines.engine.runner import Engine
from tests.conftest import row_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentAudit, DocumentIndexed

ROWS = ("lane.DocumentIndexed", "lane.DocumentAudit", "lane.DocumentPublished")


def audit_one_token(ctx: StepContext[DocumentIndexed]) -> Produced:
    """Audits a one-token document; any other is skipped, and so handed on as it is."""
    if ctx.input.tokens != 1:
        return SKIP
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.digest})


def audit_every(ctx: StepContext[DocumentIndexed]) -> Output:
    return Output({"doc_id": ctx.input.doc_id, "digest": ctx.input.digest})


def ingest_ending_with(step: Step) -> Composition:
    """The lane, with ``step`` appended after ``ingest/index``, the step that writes the output DocumentIndexed."""
    ingest = dataclasses.replace(lane.INGEST, steps=(*lane.INGEST.steps, step))
    return dataclasses.replace(lane.COMPOSITION, pipelines=(ingest, lane.PUBLISH, lane.MANUAL))


def ids(composition: Composition) -> list[str]:
    return [p.id for p in check_composition(composition)]


MAY_SKIP = ingest_ending_with(Step("audit", audit_one_token, DocumentAudit))


def test_a_last_step_that_may_skip_the_output_model_is_accepted():
    assert check_composition(MAY_SKIP) == []


@pytest.mark.parametrize(
    "step",
    [Step("audit", audit_every, DocumentAudit), Step("audit", audit_one_token, DocumentAudit, skips=())],
    ids=["returns-only-Output", "skips-nothing-here"],
)
def test_a_last_step_that_never_skips_is_still_refused(step):
    [problem] = check_composition(ingest_ending_with(step))

    assert problem.id == "pipelines.E028"
    assert problem.message == (
        "publication 'lane.indexed.v1' of pipeline 'ingest' hands off DocumentIndexed, written by ingest/index, but "
        "the pipeline's last step audit writes DocumentAudit: the output is handed off only from the last step, so its "
        "subscribers would never run (expected=DocumentIndexed actual=DocumentAudit)"
    )


def test_a_pipeline_that_hands_on_its_input_by_skipping_publishes_it():
    relayed = dataclasses.replace(lane.INDEXED, name="lane.relayed.v1")
    relay = Pipeline("relay", (DocumentIndexed,), (Step("audit", audit_one_token, DocumentAudit),), relayed)
    composition = dataclasses.replace(
        lane.COMPOSITION,
        pipelines=(lane.INGEST, lane.PUBLISH, relay),
        subscriptions=(*lane.COMPOSITION.subscriptions, Subscription("lane.indexed.v1", "relay")),
        terminal=lane.COMPOSITION.terminal | {"lane.relayed.v1"},
    )
    assert check_composition(composition) == []

    every = dataclasses.replace(relay, steps=(Step("audit", audit_every, DocumentAudit),))
    assert ids(dataclasses.replace(composition, pipelines=(lane.INGEST, lane.PUBLISH, every))) == ["pipelines.E028"]


@pytest.mark.django_db
def test_the_runner_hands_the_output_off_when_the_last_step_skips_and_not_when_it_writes():
    engine = Engine(MAY_SKIP)

    skipped = engine.start("ingest", {"text": "a b"}, "doc-1")  # two tokens: skipped, DocumentIndexed goes on
    assert [f"{r.pipeline}/{r.step}:{r.status}" for r in skipped.results][-2:] == [
        "ingest/audit:skipped",
        "publish/publish:inserted",
    ]
    assert row_counts(*ROWS) == {"lane.DocumentIndexed": 1, "lane.DocumentAudit": 0, "lane.DocumentPublished": 1}

    audited = engine.start("ingest", {"text": "c"}, "doc-2")  # one token: audited, nothing handed off
    assert [f"{r.pipeline}/{r.step}:{r.status}" for r in audited.results][-1] == "ingest/audit:inserted"
    assert row_counts(*ROWS) == {"lane.DocumentIndexed": 2, "lane.DocumentAudit": 1, "lane.DocumentPublished": 1}
