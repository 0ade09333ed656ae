"""The lineage picture draws aux branches apart from the chain: their boxes and the edges into them are aux."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from opsconsole import lineage
from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog
from tests.lane import branches
from tests.lane import composition as lane
from tests.lane.models import DocumentAudit, DocumentPublished, DocumentStats

pytestmark = pytest.mark.django_db


@pytest.fixture
def branched_trace(settings):  # type: ignore[no-untyped-def]
    settings.TPFGO_COMPOSITION = "tests.lane.branches.COMPOSITION"
    lane.FAILURES.clear()
    lane.FAILURES["stats"] = 1  # the optional branch fails once: parked beside the primary
    Engine(branches.COMPOSITION).start("ingest", {"text": "a b"}, "doc-1")
    lane.FAILURES.clear()
    return DocumentPublished.objects.get().trace_id


def test_aux_checkpoints_are_aux_nodes_and_the_edges_into_them_aux_edges(branched_trace):
    picture = lineage.build(branched_trace)

    kinds = {n.type: n.kind for n in picture.nodes if n.kind not in ("parked", "dead", "resolved")}
    assert kinds["DocumentAudit"] == "aux"
    assert kinds["DocumentPublished"] == "checkpoint" and kinds["DocumentIndexed"] == "checkpoint"
    assert [e.kind for e in picture.edges].count("aux") == 1  # into the audit row; stats is not written yet
    assert [n.pipeline for n in picture.nodes if n.kind == "parked"] == ["publish+stats"]


def test_the_lineage_page_draws_the_aux_branch_with_its_own_class(ops_client, branched_trace):
    from pipelines.models import ParkedItem
    from pipelines.recovery import retries

    assert retries.run_attempt(ParkedItem.objects.get().pk, 2) == "inserted"
    page = ops_client.get(reverse("ops:lineage", args=[branched_trace]))
    assert page.status_code == 200
    svg = page.content.decode().split('<svg class="ops-lineage"', 1)[1].split("</svg>", 1)[0]

    aux_nodes = re.findall(r'class="node node-aux" data-type="(\w+)"', svg)
    assert sorted(aux_nodes) == ["DocumentAudit", "DocumentStats"]
    assert svg.count('class="edge edge-aux"') == 2
    assert svg.count('class="node node-checkpoint" data-type="DocumentPublished"') == 1
    assert svg.count('class="node node-') == CheckpointLog.objects.filter(trace_id=branched_trace).count() + 1
    assert DocumentAudit.objects.count() == DocumentStats.objects.count() == 1
