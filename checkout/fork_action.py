"""The ``fork`` ops action: re-run an order's chain from a chosen stored checkpoint, with today's code, on a branch.

What a fork means for an order (docs/operations.md, "Fork from a checkpoint"): the steps after the checkpoint run
again on a new lineage branch; the order view then shows the fork's state, and the old branch stays visible as
superseded. Steps that declared an external effect send the parent branch's idempotency key unless the operator
opts in to keys of the fork's own (``new_effect_keys``), so a capture already made is answered, not made twice. A
fork whose capture would carry another amount under the reused key is refused in the preview, with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from checkout import pricing, selectors, services
from checkout.action_plan import Plan
from checkout.order_request.models import OrderRequest
from checkout.payment_outcome.models import PaymentOutcome
from pipelines import (
    Detail,
    InvalidArgument,
    actions,
    composition,
    deterministic_id,
    forks,
    open_hold,
    open_items,
    storage,
)

EFFECTS = {"payment_outcome": "capture", "authorization_voided": "void", "refund_issued": "refund"}


def plan(request: OrderRequest, params: Mapping[str, Any]) -> Plan:
    order_id = request.order_id
    fork = _point(order_id, params.get("checkpoint_id"))
    new_keys = params.get("new_effect_keys", False)
    if not isinstance(new_keys, bool):
        raise InvalidArgument("newEffectKeys must be true or false", [Detail("newEffectKeys", "malformed")])
    result = Plan()
    result.why = _refusal(order_id, fork, new_keys)
    if result.why is not None:
        return result
    fork_id = fork.fork_id(new_keys)
    steps = forks.downstream(fork)
    result.action_id = deterministic_id("ops-fork", str(fork_id))
    stored = forks.existing(fork, new_keys)
    label = f"{fork.log.checkpoint_type} {fork.checkpoint.pk}"
    if stored is not None:
        result.add("ForkedFrom", f"none: this fork ({fork_id}) exists; running it again replays it")
    else:
        result.add("ForkedFrom", f"branch {fork_id} starts after {label} (branch {fork.branch})")
    with storage.on_branch(fork.branch):  # the parent branch's view: what the fork starts from
        result.why = _effect_refusal(order_id, fork, steps, new_keys)
        for pipeline, step, effect in steps:
            model_names = " or ".join(m.__name__ for m in composition().pipeline(pipeline).step(step).models)
            note = f"{pipeline}/{step} on branch {fork_id}, if the chain reaches it"
            if effect and step in EFFECTS:
                note += f"; {_key_note(order_id, fork, EFFECTS[step], new_keys, str(fork_id))}"
            elif effect:
                note += "; an external effect"
            result.add(model_names, note)

    superseded = forks.superseded(fork, new_effect_keys=new_keys)
    for parked in superseded.items:
        result.add("ParkingOutcome", f"cancelled: {parked.pipeline}/{parked.step}, on a branch the fork supersedes")
    for wait in superseded.waits:
        where = f"{wait.opened.pipeline}/{wait.opened.step} on branch {wait.opened.branch}"
        result.add("WaitEnded", f"settled: {where}, {forks.SUPERSEDED}")

    def run(actor: str, reason: str) -> tuple[dict[str, Any], uuid.UUID | None]:
        row, execution = forks.start(fork, new_effect_keys=new_keys)
        closed = forks.close_superseded(fork, new_effect_keys=new_keys)
        summary = {
            **actions.summarize(execution),
            "closedParkedIds": [str(p.pk) for p in closed.items],
            "closedWaitIds": [str(w.opened.pk) for w in closed.waits],
        }
        return {**summary, "forkId": str(row.id), "parentBranch": row.parent_branch, "fromId": str(row.from_id)}, (
            fork.checkpoint.pk
        )

    result.run = run
    return result


def _point(order_id: uuid.UUID, raw: object) -> forks.ForkPoint:
    if raw in (None, ""):
        raise InvalidArgument("fork needs the checkpoint to fork from", [Detail("checkpointId", "is required")])
    checkpoint_id = services.parse_id(raw, "checkpoint")
    fork = forks.point(order_id, checkpoint_id)
    if fork is None:
        raise InvalidArgument(
            f"checkpoint {checkpoint_id} is not one of order {order_id}'s", [Detail("checkpointId", "not found")]
        )
    return fork


def _refusal(order_id: uuid.UUID, fork: forks.ForkPoint, new_keys: bool) -> str | None:
    model = type(fork.checkpoint)
    if model.branch_field is None:
        return f"{model.__name__} has no lineage branch: it cannot start a fork"
    if selectors.revised(order_id):
        return "the order was revised: a revision's facts have no lineage branch, so it cannot be forked"
    step = composition().pipeline(fork.log.pipeline).step(fork.log.step)
    if step.shape == "split":
        return f"{model.__name__} is one item of a split: fork from the step before it or from the merge after it"
    if not forks.downstream(fork):
        return f"nothing runs after {model.__name__}: a fork from it would insert nothing"
    return _stopped_here(order_id, fork, new_keys)


def _stopped_here(order_id: uuid.UUID, fork: forks.ForkPoint, new_keys: bool) -> str | None:
    """An open parked item whose input is the fork point, on a branch the fork's view is made of (one on another
    fork's branch is closed as superseded): the fork re-runs its step beside it (or, the same fork again, as the
    same item), and it stays open for good: a dead letter on the dashboard, a retry or redrive on a branch the
    order no longer shows."""
    kept = forks.lineage(fork, new_effect_keys=new_keys)
    for parked in open_items(order_id):
        if parked.item_id != fork.checkpoint.pk or parked.branch not in kept:
            continue
        dead = parked.outcomes.exists()  # an open item with an outcome is a dead letter
        held = open_hold(parked) is not None
        status = "held by a pause" if held else "a dead letter" if dead else "still retrying"
        instead = "redrive it instead (it re-runs that step from this checkpoint with today's code)"
        if held or not dead:
            instead = "let it run (or cancel the order)"
        return (
            f"{parked.pipeline}/{parked.step} stopped on this {type(fork.checkpoint).__name__} and is still open "
            f"({status}): a fork from it would re-run that step beside that item, which would stay open for "
            f"good; {instead}, or fork from an earlier checkpoint (which closes it as superseded)"
        )
    return None


def _key_note(order_id: uuid.UUID, fork: forks.ForkPoint, effect: str, new_keys: bool, fork_id: str) -> str:
    parent_key = storage.effect_key(f"{effect}:{order_id}", order_id, fork.branch)
    if new_keys:
        own_key = storage.branch_key(f"{effect}:{order_id}", fork_id)
        return f"{effect} with a key of its own ({own_key}), not the parent's ({parent_key})"
    return f"{effect} reuses the parent branch's key {parent_key}"


def _effect_refusal(
    order_id: uuid.UUID, fork: forks.ForkPoint, steps: list[tuple[str, str, bool]], new_keys: bool
) -> str | None:
    """Under a reused key the gateway answers the parent's capture: a fork that would capture another amount is
    refused (the operator may opt in to a key of its own, a second charge, instead)."""
    if new_keys or not any(step == "payment_outcome" for _, step, _ in steps):
        return None
    outcome = selectors.payment_outcome(order_id)
    if outcome is None or outcome.variant != PaymentOutcome.CAPTURED:
        return None
    reprices = any(step == "initial_order" for _, step, _ in steps)
    amount = _todays_total(order_id) if reprices else selectors.current_total(order_id)
    if amount is None or amount == outcome.amount:
        return None
    return (
        f"the fork would capture {amount} under the parent branch's key, which already captured {outcome.amount}: "
        "a reused key cannot carry another amount (fork from a later checkpoint, or opt in to new effect keys)"
    )


def _todays_total(order_id: uuid.UUID) -> Decimal | None:
    """What ``initial_order`` would price the order at today (the menu as it is now)."""
    request = selectors.order_request(order_id)
    if request is None:
        return None
    menu = selectors.menu(request.restaurant_id)
    total = Decimal("0.00")
    for line in request.line_items.all():
        item = menu.get(line.menu_item_id)
        if item is None:
            return None
        total += pricing.line(item, line.quantity)[1]
    return total
