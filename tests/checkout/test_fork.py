"""Fork from a checkpoint: an order's chain re-run from a stored checkpoint on a new lineage branch, with the
parent's effect keys (0 duplicate captures at the gateway), a preview that refuses a capture of another amount,
replays that insert nothing, both branches in the lineage, and the stale guard."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from checkout import ops_actions, selectors, state
from checkout.models import MenuItem
from checkout.order_approved.models import OrderApproved
from checkout.order_request.models import OrderRequest
from checkout.payment_outcome.models import PaymentOutcome
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.contracts.status import FailedPrecondition, InvalidArgument
from pipelines.models import MAIN_BRANCH, CheckpointLog, ForkedFrom, OpsAction
from pipelines.store import branches
from tests.checkout import recording_gateway
from tests.checkout.conftest import place
from tests.checkout.facts import completed_order_rows
from tests.conftest import all_insert_only_counts, node_clock

pytestmark = pytest.mark.django_db

WHO = {"actor": "ops:erin", "reason": "re-run with the fixed kitchen code"}


@pytest.fixture
def charges(settings):
    """The gateway simulator keeping captures by key; yields every charge it made."""
    settings.TPFGO_PAYMENT_GATEWAY = "tests.checkout.recording_gateway.KeyedGateway"
    recording_gateway.CHARGES.clear()
    recording_gateway.BY_KEY.clear()
    yield recording_gateway.CHARGES
    recording_gateway.CHARGES.clear()
    recording_gateway.BY_KEY.clear()


def fork(order_id: str, checkpoint_id: uuid.UUID, **params) -> dict:
    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(checkpoint_id), **params)
    assert shown["allowed"], shown["why"]
    return ops_actions.execute(
        "fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=str(checkpoint_id), **WHO, **params
    )


def test_a_fork_from_a_mid_chain_checkpoint_completes_on_its_branch_without_a_second_capture(demo_data, charges):
    order_id = place().view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)
    assert len(charges) == 1
    before = CheckpointLog.objects.filter(trace_id=order_id).count()

    view = fork(order_id, approved.pk)

    [forked] = ForkedFrom.objects.filter(trace_id=order_id)
    assert (forked.parent_branch, forked.from_id, forked.new_effect_keys) == (MAIN_BRANCH, approved.pk, False)
    assert view["state"] == "COMPLETED"
    terminal = {row.branch: row for row in TerminalOrderState.objects.filter(order_id=order_id)}
    assert set(terminal) == {MAIN_BRANCH, forked.branch}
    assert selectors.fact(TerminalOrderState, uuid.UUID(order_id)) == terminal[forked.branch]
    # 0 duplicate captures: the fork's capture reused the order's key, and the gateway answered the first one.
    assert charges == [(f"capture:{order_id}", Decimal("22.00"))]
    captured = {row.branch: row.payment_id for row in PaymentOutcome.objects.filter(order_id=order_id)}
    assert captured[forked.branch] == captured[MAIN_BRANCH]
    # The fork re-ran everything after OrderApproved: ticket → terminal state.
    rerun = completed_order_rows(after="consumer-validation")
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == before + rerun
    audit = OpsAction.objects.get(action="fork")
    assert audit.result["forkId"] == str(forked.id) and audit.target_id == approved.pk


def test_a_fork_that_opts_in_to_new_effect_keys_captures_again(demo_data, charges):
    order_id = place().view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)

    fork(order_id, approved.pk, new_effect_keys=True)

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert charges == [
        (f"capture:{order_id}", Decimal("22.00")),
        (f"capture:{order_id}:{forked.branch}", Decimal("22.00")),
    ]


def test_the_preview_of_a_fork_with_new_effect_keys_names_the_key_the_capture_will_send(demo_data, charges):
    order_id = place().view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)

    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(approved.pk), new_effect_keys=True)
    fork(order_id, approved.pk, new_effect_keys=True)

    own_key = f"capture:{order_id}:{ForkedFrom.objects.get(trace_id=order_id).branch}"
    note = f"capture with a key of its own ({own_key}), not the parent's (capture:{order_id})"
    assert [i for i in shown["inserts"] if note in i["summary"]] != []
    assert charges[-1][0] == own_key


def test_a_fork_whose_capture_would_carry_another_amount_is_refused_in_the_preview(demo_data, charges):
    order_id = place().view["orderId"]
    request = OrderRequest.objects.get(order_id=order_id)
    MenuItem.objects.filter(restaurant_id="pizza-roma", item_id="margherita").update(price=Decimal("12.00"))
    before = all_insert_only_counts()

    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(request.pk))

    assert not shown["allowed"]
    assert shown["why"].startswith("the fork would capture 24.00 under the parent branch's key")
    assert "already captured 22.00" in shown["why"]
    with pytest.raises(FailedPrecondition):
        ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=str(request.pk), **WHO)
    assert all_insert_only_counts() == before
    assert len(charges) == 1


def test_running_the_same_fork_again_inserts_nothing(demo_data, charges):
    order_id = place().view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)
    fork(order_id, approved.pk)
    after_first = all_insert_only_counts()

    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(approved.pk))
    assert shown["allowed"] and shown["inserts"][0]["type"] == "ForkedFrom"
    assert shown["inserts"][0]["summary"].startswith("none: this fork")
    fork(order_id, approved.pk)

    assert all_insert_only_counts() == after_first
    assert len(charges) == 1


def test_the_lineage_shows_both_branches_and_marks_the_parent_superseded(demo_data, charges):
    order_id = uuid.UUID(place().view["orderId"])
    approved = OrderApproved.objects.get(order_id=order_id)
    main_rows = state.log_rows(order_id)
    fork(str(order_id), approved.pk)
    forked = ForkedFrom.objects.get(trace_id=order_id)

    every = list(CheckpointLog.objects.filter(trace_id=order_id).order_by("seq"))
    of = branches.branches_of(every)
    assert sorted(set(of.values())) == sorted({MAIN_BRANCH, forked.branch})
    assert branches.active(order_id) == forked.branch
    assert branches.superseded(order_id) == {MAIN_BRANCH}
    # The order view's history: the parent's rows up to OrderApproved, then the fork's.
    shown = state.log_rows(order_id)
    assert len(shown) == len(main_rows)
    upto = [row.checkpoint_id for row in main_rows if row.seq <= forked.from_seq]
    assert [row.checkpoint_id for row in shown][: len(upto)] == upto
    assert all(of[row.checkpoint_id] == forked.branch for row in shown[len(upto) :])


def test_a_fork_on_an_order_that_moved_since_the_preview_is_refused(demo_data, charges):
    from checkout import services

    view = place(restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]).view
    order_id = view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)
    shown = ops_actions.preview("fork", order_id, checkpoint_id=str(approved.pk))
    assert shown["allowed"], shown["why"]
    services.accept_ticket(view["kitchenTicketId"])  # the order moves on
    before = all_insert_only_counts()

    with pytest.raises(FailedPrecondition, match="the trace changed since the preview"):
        ops_actions.execute("fork", order_id, expected_seq=shown["expectedSeq"], checkpoint_id=str(approved.pk), **WHO)
    assert all_insert_only_counts() == before


def test_a_fork_needs_a_checkpoint_of_the_order(demo_data, charges):
    order_id = place().view["orderId"]
    other = place().view["orderId"]
    before = all_insert_only_counts()
    with pytest.raises(InvalidArgument, match="checkpoint_id|checkpoint"):
        ops_actions.preview("fork", order_id)
    with pytest.raises(InvalidArgument, match="is not one of order"):
        ops_actions.preview("fork", order_id, checkpoint_id=str(OrderApproved.objects.get(order_id=other).pk))
    assert all_insert_only_counts() == before


def test_manage_py_remediate_previews_and_runs_a_fork(demo_data, charges, capsys):
    import json

    from django.core.management import call_command

    order_id = place().view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)
    before = all_insert_only_counts()
    call_command("remediate", "fork", order_id, "--checkpoint", str(approved.pk), "--preview")
    shown = json.loads(capsys.readouterr().out)
    assert shown["allowed"] and shown["inserts"][0]["type"] == "ForkedFrom"
    assert all_insert_only_counts() == before

    call_command(
        "remediate", "fork", order_id, "--checkpoint", str(approved.pk), "--reason", "fixed", "--actor", "cli:t"
    )

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert OpsAction.objects.get(action="fork").result["forkId"] == str(forked.id)
    assert len(charges) == 1


def test_a_fork_made_on_a_console_whose_clock_is_behind_is_the_orders_active_branch(demo_data, charges):
    order_id = uuid.UUID(place().view["orderId"])
    fork(str(order_id), OrderApproved.objects.get(order_id=order_id).pk)
    first = ForkedFrom.objects.get(trace_id=order_id)
    every = list(CheckpointLog.objects.filter(trace_id=order_id).order_by("seq"))
    on_first = [row for row in every if branches.branches_of(every)[row.checkpoint_id] == first.branch]

    with node_clock(-15):  # the console's node; before: its fork was written 15 minutes old, older than the first
        fork(str(order_id), on_first[0].checkpoint_id)

    second = ForkedFrom.objects.get(trace_id=order_id, parent_branch=first.branch)
    assert ForkedFrom.objects.filter(trace_id=order_id).count() == 2
    assert branches.active(order_id) == second.branch  # before: the first fork's, which the second superseded
