"""The engine takes its key names from the domain: the lane keys everything by ``doc_id`` / ``docId``."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models

from pipelines import checks as pipeline_checks
from pipelines.contracts import ids
from pipelines.contracts.checks import check_composition
from pipelines.contracts.declarations import Publication
from pipelines.contracts.errors import ContractError
from pipelines.contracts.status import FailedPrecondition
from pipelines.engine.runner import business_key
from pipelines.models import Checkpoint
from pipelines.recovery import actions as remediation
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished, DocumentReceived, TokenIndexed

ENGINE = Path(__file__).resolve().parents[2] / "pipelines"
# The checkout domain's key names, and the phrases its items had in the engine's messages: the engine uses none.
DOMAIN_WORDS = re.compile(r"order_id|orderId|OrderId|\border (changed|moved)|\ban order's\b")


@pytest.mark.django_db
def test_the_lane_facts_are_keyed_by_the_lane_own_key_fields(lane_engine):
    lane_engine.start("ingest", {"text": "beta alpha"}, "doc-1")

    doc_id = ids.deterministic_id("document", "doc-1")
    assert DocumentReceived.objects.get().business_key == str(doc_id)
    assert sorted(TokenIndexed.objects.values_list("business_key", flat=True)) == [f"{doc_id}:alpha", f"{doc_id}:beta"]
    assert DocumentIndexed.objects.get().business_key == str(doc_id)
    assert DocumentPublished.objects.get().business_key == str(doc_id)
    assert check_composition(lane.COMPOSITION) == []
    assert {p.key_fields for _, p in lane.COMPOSITION.publications().values()} == {("docId",)}


@pytest.mark.django_db
def test_a_stale_preview_is_refused_in_the_engine_own_words(lane_engine):
    lane_engine.start("ingest", {"text": "one"}, "doc-1")
    trace_id = ids.deterministic_id("document", "doc-1")
    newest = remediation.newest_seq(trace_id)
    before = all_insert_only_counts()

    with pytest.raises(FailedPrecondition) as refused:
        remediation.check_fresh(trace_id, newest - 1)

    assert refused.value.message == (
        f"the trace changed since the preview (newest checkpoint {newest}, preview showed {newest - 1}); preview again"
    )
    assert all_insert_only_counts() == before


def test_a_publication_must_name_its_key_fields():
    with pytest.raises(TypeError, match="key_fields"):
        Publication("lane.indexed.v1", DocumentIndexed)  # type: ignore[call-arg]


def test_a_checkpoint_model_that_names_no_business_key_is_refused():
    class Keyless(Checkpoint):
        contract = None
        doc_id = models.UUIDField()

        class Meta:
            app_label = "lane"

    try:
        problems = [(p.id, p.msg) for p in pipeline_checks.check_classification() if p.obj is Keyless]
        with pytest.raises(ContractError, match="Keyless declares no business_key_fields"):
            business_key(Keyless(doc_id=uuid.uuid4()))
    finally:
        apps.all_models["lane"].pop("keyless")
        apps.clear_cache()
    assert problems == [("pipelines.E007", "lane.Keyless declares no business key")]


def test_the_engine_source_speaks_of_items_and_traces_not_orders():
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        if "migrations" in path.parts or path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DOMAIN_WORDS.search(line):
                found.append(f"{path.relative_to(ENGINE.parent)}:{number}: {line.strip()}")
    assert found == []
