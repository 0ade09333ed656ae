"""A subscription's mapper is applied: the consumer's first step reads the mapper's target, built from the checkpoint
handed off, on the single and the batched path alike; the stored item (lineage, parking, retries) stays the source."""

import pytest

from pipelines.engine.batch import BatchEngine
from pipelines.engine.runner import Engine
from pipelines.models import ErrorSinkEntry, LineageLink, ParkedItem
from tests.contracts_fixtures import compositions
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished, DocumentReceived
from tests.snapshots import snapshot, wipe

pytestmark = pytest.mark.django_db

DOC = ({"text": "gamma alpha beta"}, "doc-1")


@pytest.fixture(autouse=True)
def no_failures():
    lane.FAILURES.clear()
    yield
    lane.FAILURES.clear()


def statuses(execution):
    return [(r.pipeline, r.step, r.status.value) for r in execution.results]


def test_the_consumer_reads_the_mappers_target_built_from_the_checkpoint_handed_off():
    execution = Engine(compositions.MAPPED).start("ingest", *DOC)

    assert statuses(execution)[-1] == ("publish", "publish", "inserted")
    indexed = DocumentIndexed.objects.get()
    published = DocumentPublished.objects.get()
    assert (published.doc_id, published.digest) == (indexed.doc_id, "3 tokens")  # the target's text: only it has one
    assert DocumentReceived.objects.count() == 1  # ingest's own; the mapped one is not stored
    link = LineageLink.objects.get(child_type="DocumentPublished")
    assert (link.parent_type, link.parent_id) == ("DocumentIndexed", indexed.pk)  # the item stays the source


def test_a_mapped_handoff_stores_the_same_rows_on_the_batched_path():
    single = Engine(compositions.MAPPED).start("ingest", *DOC)
    expected = snapshot()
    wipe()

    [batched] = BatchEngine(compositions.MAPPED).start_many("ingest", [DOC])

    assert snapshot() == expected
    assert statuses(batched) == statuses(single)
    assert DocumentPublished.objects.get().digest == "3 tokens"


def test_a_retried_first_step_maps_its_parked_source_again():
    lane.FAILURES["publish"] = 1  # the first attempt fails, retryably
    engine = Engine(compositions.MAPPED)
    engine.start("ingest", *DOC)
    parked = ParkedItem.objects.get()
    assert (parked.pipeline, parked.item_type, DocumentPublished.objects.count()) == ("publish", "DocumentIndexed", 0)

    retried = engine.run("publish", DocumentIndexed.objects.get(pk=parked.item_id), attempt=2)

    assert statuses(retried) == [("publish", "publish", "inserted")]
    assert DocumentPublished.objects.get().digest == "3 tokens"


@pytest.mark.parametrize("engine", [Engine, BatchEngine])
def test_a_mapper_whose_fields_do_not_fit_its_target_fails_the_step_into_the_error_sink(engine):
    if engine is Engine:
        results = Engine(compositions.MAPPED_MISFIT).start("ingest", *DOC).results
    else:
        results = BatchEngine(compositions.MAPPED_MISFIT).start_many("ingest", [DOC])[0].results

    assert (results[-1].pipeline, results[-1].step, results[-1].status.value) == ("publish", "publish", "failed")
    entry = ErrorSinkEntry.objects.get()
    assert (entry.pipeline, entry.step, entry.item_type, entry.error_code) == (
        "publish",
        "publish",
        "DocumentIndexed",
        "CONTRACT_VIOLATION",
    )
    assert "leaves out the required field(s) 'text'" in entry.message
    assert DocumentPublished.objects.count() == 0
