"""The branch policy in the engine: a required aux branch goes in with its primary or nothing does; an optional one
fails, parks and is retried on its own without holding the primary; an aux output is handed off only to a pipeline
that subscribes to its publication."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from pipelines import StepStatus
from pipelines.contracts.declarations import Step, outcome, primary
from pipelines.engine.batch import BatchEngine
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, ErrorSinkEntry, LineageLink, ParkedItem, ParkingOutcome
from pipelines.recovery import retries
from tests.conftest import row_counts
from tests.lane import branches
from tests.lane import composition as lane
from tests.lane.models import DocumentAudit, DocumentPublished, DocumentRefused, DocumentStats

pytestmark = pytest.mark.django_db

ROWS = ("lane.DocumentPublished", "lane.DocumentAudit", "lane.DocumentStats")


@pytest.fixture
def branched(settings) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """The engine on the lane with aux branches, also the composition in force (retries load it)."""
    settings.TPFGO_COMPOSITION = "tests.lane.branches.COMPOSITION"
    lane.FAILURES.clear()
    yield Engine(branches.COMPOSITION)
    lane.FAILURES.clear()


def counts() -> tuple[int, int, int]:
    found = row_counts(*ROWS)
    return found["lane.DocumentPublished"], found["lane.DocumentAudit"], found["lane.DocumentStats"]


def pipelines_run(execution) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{r.pipeline}/{r.step}:{r.status}" for r in execution.results]


# -- declarations -------------------------------------------------------------------------------------------------
def test_a_step_without_declared_branches_has_its_model_as_primary_and_its_outcomes_as_required_aux():
    receive = lane.INGEST.steps[0]

    assert [(b.name, b.model, b.role, b.need, b.publication) for b in receive.policy] == [
        ("receive", lane.INGEST.steps[0].model, "primary", "required", None),
        ("DocumentRefused", DocumentRefused, "aux", "required", lane.REFUSED),
    ]


def test_declared_outcome_branches_give_the_step_its_outcomes_and_a_disagreeing_pair_is_refused():
    declared = Step(
        "receive", lane.receive, lane.INGEST.steps[0].model, branches=(primary("r", lane.INGEST.steps[0].model),)
    )
    with_outcome = dataclasses.replace(
        declared, branches=(*declared.branches, outcome("refused", DocumentRefused, lane.REFUSED))
    )

    assert declared.outcomes == {}
    assert with_outcome.outcomes == {DocumentRefused: lane.REFUSED}
    with pytest.raises(ValueError, match="outcomes and the outcome branches disagree"):
        dataclasses.replace(with_outcome, branches=declared.branches)


# -- the engine -----------------------------------------------------------------------------------------------------
def test_every_branch_is_written_once_and_the_aux_rows_descend_from_the_primary(branched):
    execution = branched.start("ingest", {"text": "a b"}, "doc-1")

    assert pipelines_run(execution)[-2:] == ["publish/publish:inserted", "publish+stats/publish+stats:inserted"]
    assert counts() == (1, 1, 1)
    assert [cp.id for cp in execution.result("publish", "publish").checkpoints] == [
        DocumentPublished.objects.get().id,
        DocumentAudit.objects.get().id,
    ]
    published = DocumentPublished.objects.get()
    for aux in (DocumentAudit.objects.get(), DocumentStats.objects.get()):
        assert aux.id != published.id and aux.trace_id == published.trace_id
        assert LineageLink.objects.get(child_id=aux.id).parent_id == published.id
    assert DocumentStats.objects.get().words == 2
    steps = set(CheckpointLog.objects.values_list("pipeline", "step", "checkpoint_type"))
    assert ("publish", "publish+audit", "DocumentAudit") in steps
    assert ("publish+stats", "publish+stats", "DocumentStats") in steps


def test_a_replay_inserts_nothing_on_any_branch(branched):
    branched.start("ingest", {"text": "a b"}, "doc-1")
    logged = CheckpointLog.objects.count()

    again = branched.start("ingest", {"text": "a b"}, "doc-1")

    assert {r.status for r in again.results} == {StepStatus.REPLAYED}
    assert counts() == (1, 1, 1) and CheckpointLog.objects.count() == logged


def test_a_failing_optional_branch_parks_alone_and_the_primary_goes_on(branched):
    lane.FAILURES["stats"] = 1  # transient: attempt 1 fails

    execution = branched.start("ingest", {"text": "a b"}, "doc-1")

    assert counts() == (1, 1, 0)
    statuses = {f"{r.pipeline}/{r.step}": r.status for r in execution.results}
    assert statuses["publish/publish"] is StepStatus.INSERTED
    assert statuses["publish+stats/publish+stats"] is StepStatus.FAILED
    entry = ErrorSinkEntry.objects.get()
    assert (entry.pipeline, entry.step, entry.error_code) == ("publish+stats", "publish+stats", "UNAVAILABLE")
    parked = ParkedItem.objects.get()
    assert (parked.pipeline, parked.step, parked.item_type) == ("publish+stats", "publish+stats", "DocumentPublished")
    assert parked.item_id == DocumentPublished.objects.get().id

    assert retries.run_attempt(parked.pk, 2, worker="w1") == StepStatus.INSERTED

    assert counts() == (1, 1, 1)
    assert ParkingOutcome.objects.get().outcome == "resolved"
    assert ErrorSinkEntry.objects.count() == 1


def test_an_optional_branch_that_keeps_failing_dead_letters_alone(branched):
    lane.FAILURES["stats"] = "fatal"

    branched.start("ingest", {"text": "a b"}, "doc-1")

    assert counts() == (1, 1, 0)
    assert ParkingOutcome.objects.get().outcome == "dead_lettered"
    assert ParkedItem.objects.get().pipeline == "publish+stats"


def test_a_failing_required_branch_fails_its_step_and_nothing_of_the_step_is_stored(branched):
    lane.FAILURES["audit"] = 1
    logged = None

    execution = branched.start("ingest", {"text": "a b"}, "doc-1")

    assert pipelines_run(execution)[-1] == "publish/publish:failed"
    assert counts() == (0, 0, 0)
    logged = CheckpointLog.objects.filter(pipeline="publish").count()
    assert logged == 0
    parked = ParkedItem.objects.get()
    assert (parked.pipeline, parked.step) == ("publish", "publish")
    entry = ErrorSinkEntry.objects.get()
    assert (entry.pipeline, entry.step) == ("publish", "publish")

    assert retries.run_attempt(parked.pk, 2, worker="w1") == StepStatus.INSERTED

    assert counts() == (1, 1, 1)


def test_an_aux_output_is_handed_off_only_to_a_pipeline_subscribed_to_its_publication(branched):
    execution = branched.start("ingest", {"text": "a b"}, "doc-1")
    subscribed = Engine(branches.COUNTED).start("ingest", {"text": "c d e"}, "doc-2")

    assert {r.pipeline for r in execution.results} == {"ingest", "publish", "publish+stats"}
    assert pipelines_run(subscribed)[-2:] == ["publish+stats/publish+stats:inserted", "count/count:inserted"]
    counted = DocumentAudit.objects.get(doc_id=DocumentStats.objects.get(words=3).doc_id)
    assert counted.digest == "3 words"


def test_per_pipeline_atomicity_writes_the_optional_branch_after_the_pipeline_committed(branched):
    lane.FAILURES["stats"] = 1

    execution = Engine(branches.COMPOSITION, atomicity="pipeline").start("ingest", {"text": "a b"}, "doc-1")

    assert pipelines_run(execution)[-1] == "publish+stats/publish+stats:failed"
    assert counts() == (1, 1, 0)
    assert ParkedItem.objects.get().pipeline == "publish+stats"


def test_the_batched_path_refuses_a_pipeline_with_aux_branches(branched):
    with pytest.raises(ValueError, match="publish.*aux branches"):
        BatchEngine(branches.COMPOSITION).start_many("ingest", [({"text": "a b"}, "doc-1")])
    assert counts() == (0, 0, 0)
