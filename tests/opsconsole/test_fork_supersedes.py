"""A fork closes the open parked items whose input it supersedes: a dead letter on the parent branch after the fork
point is no longer counted, listed or offered for a redrive that the order's view would refuse."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from checkout import ops_actions
from checkout.order_approved.models import OrderApproved
from pipelines.models import OpenParked, OpsAction, ParkedItem, ParkingOutcome

pytestmark = pytest.mark.django_db


def fork_from_approval(order_id) -> dict:
    approved = str(OrderApproved.objects.get(order_id=order_id).pk)
    preview = ops_actions.preview("fork", order_id, checkpoint_id=approved)
    ops_actions.execute(
        "fork", order_id, actor="ops", reason="re-run", expected_seq=preview["expectedSeq"], checkpoint_id=approved
    )
    return preview


def test_forking_a_dead_lettered_order_closes_its_superseded_dead_letter(ops_client, dead_order):
    dead = ParkedItem.objects.get(trace_id=dead_order)
    preview = fork_from_approval(dead_order)  # still no courier: the fork's own dispatch parks, retrying

    cancelled = "cancelled: dispatch/delivery_assigned, on a branch the fork supersedes"
    assert [i["summary"] for i in preview["inserts"] if i["type"] == "ParkingOutcome"] == [cancelled]
    closed = ParkingOutcome.objects.filter(parked=dead, outcome=ParkingOutcome.CANCELLED)
    assert list(closed.values_list("reason", flat=True)) == ["superseded by a fork"]
    fork_item = ParkedItem.objects.exclude(pk=dead.pk).get(trace_id=dead_order)
    assert list(OpenParked.objects.values_list("parked_id", "dead_at")) == [(fork_item.pk, None)]
    assert OpsAction.objects.get(action="fork").result["closedParkedIds"] == [str(dead.pk)]

    page = ops_client.get(reverse("ops:index")).content.decode()
    assert "Dead letters (0)" in page and "Redrive all" not in page
    stalled = re.sub(r"<[^>]+>|\s+", " ", page[page.index('id="stalled"') : page.index('id="dead-letters"')])
    assert "dispatch delivery_assigned 1 1 0 0" in re.sub(r" +", " ", stalled)


def test_the_same_fork_again_closes_nothing_more(ops_client, dead_order):
    fork_from_approval(dead_order)
    outcomes = ParkingOutcome.objects.count()
    preview = fork_from_approval(dead_order)
    assert [i for i in preview["inserts"] if i["type"] == "ParkingOutcome"] == []
    assert ParkingOutcome.objects.count() == outcomes


def test_a_fork_from_the_checkpoint_a_dead_letter_stopped_on_is_refused_with_what_to_do(ops_client, dead_order):
    """The fork would re-run that step beside the dead letter, which stays open: on the dashboard for good, and a
    redrive of it would run on the parent branch, which the order's view no longer shows."""
    from django.core.management import CommandError, call_command

    from checkout.models import Courier
    from checkout.order_ready_for_dispatch.models import OrderReadyForDispatch
    from pipelines import FailedPrecondition
    from tests.conftest import all_insert_only_counts

    Courier.objects.filter(pk="courier-ann").update(available=True)
    ready = str(OrderReadyForDispatch.objects.get(order_id=dead_order).pk)
    before = all_insert_only_counts()

    preview = ops_actions.preview("fork", dead_order, checkpoint_id=ready)
    why = (
        "dispatch/delivery_assigned stopped on this OrderReadyForDispatch and is still open (a dead letter): a fork "
        "from it would re-run that step beside that item, which would stay open for good; redrive it instead "
        "(it re-runs that step from this checkpoint with today's code), or fork from an earlier checkpoint (which "
        "closes it as superseded)"
    )
    assert (preview["allowed"], preview["why"]) == (False, why)
    with pytest.raises(FailedPrecondition, match="stopped on this OrderReadyForDispatch"):
        ops_actions.execute(
            "fork", dead_order, actor="ops", reason="re-run", expected_seq=preview["expectedSeq"], checkpoint_id=ready
        )
    with pytest.raises(CommandError, match="redrive it instead"):
        call_command("remediate", "fork", str(dead_order), "--checkpoint", ready, "--reason", "re-run")
    page = " ".join(
        ops_client.get(reverse("ops:remediation", args=["fork"]), {"order": str(dead_order), "checkpoint_id": ready})
        .content.decode()
        .split()
    )
    assert "stopped on this OrderReadyForDispatch and is still open (a dead letter)" in page
    assert all_insert_only_counts() == before
