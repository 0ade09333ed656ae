"""Batch items that share a step's output id (so its input): the later one follows the earlier one's outcome there,
and stores what running the two one by one stores."""

from __future__ import annotations

import pytest

from pipelines.contracts.declarations import Composition, Pipeline, Publication, Step
from pipelines.contracts.errors import NonRetryableError, error_code
from pipelines.contracts.steps import SKIP, Execution, Output, Produced, StepContext
from pipelines.engine.batch import BatchEngine
from pipelines.engine.runner import Engine
from pipelines.models import ErrorSinkEntry, ParkedItem
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished, DocumentReceived

pytestmark = pytest.mark.django_db

REFUSING: dict[str, bool] = {}


def reindex(ctx: StepContext[DocumentReceived | DocumentIndexed]) -> Produced:
    """An index already made goes on as it is; a received document is indexed again."""
    if isinstance(ctx.input, DocumentIndexed):
        return SKIP
    return Output({"doc_id": ctx.input.doc_id, "digest": "again", "tokens": 0})


def republish(ctx: StepContext[DocumentIndexed]) -> Produced:
    if REFUSING:
        raise NonRetryableError("republish refused", code="INVALID_DATA")
    return SKIP


RELAY = Pipeline(
    name="relay",
    inputs=(DocumentReceived, DocumentIndexed),
    steps=(Step("reindex", reindex, DocumentIndexed), Step("republish", republish, DocumentPublished)),
    output=Publication("lane.republished.v1", DocumentPublished, ("docId",)),
    kind="remediation",
)
COMPOSITION = Composition(
    pipelines=(*lane.COMPOSITION.pipelines, RELAY),
    subscriptions=lane.COMPOSITION.subscriptions,
    terminal=lane.COMPOSITION.terminal,
)


@pytest.fixture
def received_and_its_index():
    """A received document (its ingest stopped at tokenize: one sink entry) and the index ``relay`` wrote of it."""
    lane.FAILURES["tokenize"] = "fatal"
    try:
        Engine(COMPOSITION).start("ingest", {"text": "a b"}, "doc-1")
    finally:
        lane.FAILURES.clear()
    received = DocumentReceived.objects.get()
    assert Engine(COMPOSITION).run("relay", received).results[-1].status == "skipped"
    assert ErrorSinkEntry.objects.count() == 1
    REFUSING["on"] = True
    yield received, DocumentIndexed.objects.get()
    REFUSING.clear()


def ran(how: str, values: list[DocumentReceived | DocumentIndexed]) -> list[Execution]:
    if how == "batched":
        return BatchEngine(COMPOSITION).run_many("relay", values)
    return [Engine(COMPOSITION).run("relay", value) for value in values]


@pytest.mark.parametrize("how", ["single", "batched"])
def test_an_item_reaching_a_step_on_its_batch_mates_input_shares_that_inputs_one_failure(received_and_its_index, how):
    """The index goes on to ``republish`` as it is (``reindex`` skips it), the received document through its
    index: both reach ``republish`` on the same input, so the same output id. Batched, the second follows the first;
    one by one, its run fails on the same attempt of the same input, whose record inserts nothing. Either way the
    input has one error-sink entry, one parked row and one dead letter, and nothing is written."""
    received, indexed = received_and_its_index
    before = all_insert_only_counts()

    first, second = ran(how, [received, indexed])

    assert [(r.step, r.status) for r in first.results] == [("reindex", "replayed"), ("republish", "failed")]
    assert [(r.step, r.status) for r in second.results] == [("reindex", "skipped"), ("republish", "failed")]
    assert {error_code(e.results[-1].error) for e in (first, second)} == {"INVALID_DATA"}
    entry = ErrorSinkEntry.objects.get(pipeline="relay")
    assert (entry.step, entry.item_type, entry.item_id, entry.attempt) == (
        "republish",
        "DocumentIndexed",
        indexed.pk,
        1,
    )
    parked = ParkedItem.objects.get(pipeline="relay")
    assert list(parked.outcomes.values_list("outcome", "reason", "attempts")) == [("dead_lettered", "non_retryable", 1)]
    after = all_insert_only_counts()
    changed = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert changed == {"pipelines.ErrorSinkEntry": 1, "pipelines.ParkedItem": 1, "pipelines.ParkingOutcome": 1}
