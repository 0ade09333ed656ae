"""The search lane in the ops console, through the console's own generic screens: the funnel counts its
checkpoints, the lineage page draws a query's trace, and a dead-lettered fan-out (a shard that kept failing) is
redriven from the confirm page through the engine, with who and why recorded."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from opsconsole import funnel, lineage
from pipelines.models import OpsAction, ParkedItem, ParkingOutcome
from pipelines.tasks import retry_parked
from search import selectors
from tests.conftest import all_insert_only_counts
from tests.opsconsole.conftest import make_ops_user
from tests.search.conftest import lane_counts, search

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client):  # type: ignore[no-untyped-def]
    client.force_login(make_ops_user())
    return client


def dead_lettered_query() -> uuid.UUID:
    """Shard 6 is unavailable for four attempts: the fan-out's retries (four attempts in all) run out."""
    query_id = uuid.UUID(search("red apple pie", tokens=["shard6_flaky_4"], key="console-dead").view["queryId"])
    parked = ParkedItem.objects.get(trace_id=query_id)
    for attempt in (2, 3, 4):
        assert retry_parked(str(parked.pk), attempt) == "failed"
    assert ParkingOutcome.objects.filter(parked=parked, outcome=ParkingOutcome.DEAD_LETTERED).count() == 1
    return query_id


def test_the_dashboard_funnel_counts_the_lane_checkpoints(ops_client):
    search("red apple pie")
    search("pear", tokens=["shard2_slow"])
    funnel.fold()

    page = ops_client.get("/ops/").content.decode()

    table = page[page.index('<table class="ops-funnel">') : page.index("</table>", page.index("ops-funnel"))]
    for name in ("QueryReceived", "ShardSearched", "ResultsMerged", "PartialResults", "RankedResults"):
        assert f'data-checkpoint="{name}"' in table, name


def test_the_lineage_page_draws_a_query_fan_out_and_fan_in(ops_client):
    query_id = search("red apple pie", tokens=["shard2_slow"]).view["queryId"]

    page = ops_client.get(reverse("ops:lineage", args=[query_id])).content.decode()

    assert page.count("ShardSearched") >= 8
    for name in ("QueryReceived", "PartialResults", "RankedResults", "QueryLogged"):
        assert name in page, name
    kinds = {}
    for node in lineage.build(uuid.UUID(query_id)).nodes:
        kinds.setdefault(node.type, set()).add(node.kind)
    assert kinds["ShardSearched"] == {"checkpoint"}
    assert kinds["PartialResults"] == {"outcome"}
    assert kinds["QueryLogged"] == {"aux"}  # the analytics branch is drawn apart from the answer


def test_a_dead_lettered_fan_out_is_redriven_from_the_confirm_page(ops_client):
    query_id = dead_lettered_query()
    url = reverse("ops:remediation", args=["redrive"])
    before = all_insert_only_counts()

    page = ops_client.get(url, {"order": str(query_id)}).content.decode()

    assert "What will be inserted" in page and "ShardSearched" in page
    assert all_insert_only_counts() == before
    marker = f'name="expected_seq_{query_id}" value="'
    seq = page.split(marker, 1)[1].split('"', 1)[0]
    response = ops_client.post(url, {"order": str(query_id), f"expected_seq_{query_id}": seq, "reason": "shard 6 back"})

    assert response.status_code == 302 and response["Location"] == reverse("ops:lineage", args=[query_id])
    assert any("state RANKED" in str(m) for m in get_messages(response.wsgi_request))
    ranked = selectors.ranked(query_id)
    assert ranked is not None and not ranked.partial
    assert lane_counts()["ShardSearched"] == 8
    action = OpsAction.objects.get(trace_id=query_id)
    assert (action.action, action.reason, action.result["status"]) == ("redrive", "shard 6 back", "inserted")


def test_an_action_the_lane_does_not_know_is_refused_and_stores_nothing(ops_client):
    query_id = dead_lettered_query()
    before = all_insert_only_counts()

    page = ops_client.get(reverse("ops:remediation", args=["ops-cancel"]), {"order": str(query_id)}).content.decode()

    assert "ops-cancel is not an action for a query" in page
    assert all_insert_only_counts() == before
