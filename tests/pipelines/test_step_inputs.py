"""``pipelines.E046``: every step reads what reaches it, the step before's model, or its input when that step may
SKIP or continue after a loss (docs/contracts.md, rule 12). A mismatch would otherwise fail at run time, retried."""

from __future__ import annotations

import dataclasses

from checkout import composition as shipped
from checkout.order_approved import step as order_approved
from checkout.order_approved.models import OrderApproved
from checkout.refund_issued import step as refund_issued
from checkout.refund_issued.models import RefundIssued
from pipelines.contracts.declarations import Composition, Pipeline, Step, aux, primary
from pipelines.contracts.inputs import input_problems
from pipelines.contracts.steps import Output, StepContext
from tests.lane import branches
from tests.lane import composition as lane
from tests.lane.models import DocumentPublished, DocumentStats


def found(composition: Composition) -> list[str]:
    return [p.message for p in input_problems(composition)]


def shipped_with(*changed: Pipeline) -> Composition:
    names = {p.name: p for p in changed}
    pipelines = tuple(names.get(p.name, p) for p in shipped.COMPOSITION.pipelines)
    return dataclasses.replace(shipped.COMPOSITION, pipelines=pipelines)


def test_every_shipped_pipeline_reads_what_reaches_each_step():
    from tpfgo_site.composition import COMPOSITION

    assert found(COMPOSITION) == []


def test_a_step_inserted_mid_pipeline_that_reads_another_model_is_refused_naming_both_steps_and_models():
    order_request, initial_order, ready_order = shipped.CHECKOUT.steps
    approve = Step("order_approved", order_approved.process, OrderApproved)  # reads PaymentAuthorized
    inserted = dataclasses.replace(shipped.CHECKOUT, steps=(order_request, initial_order, approve, ready_order))

    assert found(shipped_with(inserted)) == [
        "step checkout/order_approved reads PaymentAuthorized, but InitialOrder reaches it: the step before it, "
        "checkout/initial_order, writes it (expected=PaymentAuthorized actual=InitialOrder)",
        "step checkout/ready_order reads InitialOrder, but OrderApproved reaches it: the step before it, "
        "checkout/order_approved, writes it (expected=InitialOrder actual=OrderApproved)",
    ]


def test_a_step_after_one_that_may_skip_must_also_read_that_steps_input():
    withdrawn, voided, _ = shipped.ORDER_CANCELLATION.steps
    refund = Step("refund_issued", refund_issued.process, RefundIssued)  # reads AuthorizationVoided | OpsCancellation
    cancelling = dataclasses.replace(shipped.ORDER_CANCELLATION, steps=(withdrawn, voided, refund))

    assert found(shipped_with(cancelling)) == [
        "step order-cancellation/refund_issued reads AuthorizationVoided | OpsCancellation, but TicketWithdrawn "
        "reaches it: order-cancellation/authorization_voided hands on its own input when it returns SKIP; "
        "CancellationAccepted reaches it: order-cancellation/authorization_voided hands on its own input when it "
        "returns SKIP (expected=AuthorizationVoided | OpsCancellation actual=TicketWithdrawn | CancellationAccepted)"
    ]


def test_skips_narrows_what_a_skipping_step_hands_on():
    steps = list(shipped.ORDER_REVISION.steps)
    assert steps[2].name == "payment_reauthorized" and steps[2].skips is not None
    steps[2] = dataclasses.replace(steps[2], skips=None)  # as its return type says: it may skip any input
    revising = dataclasses.replace(shipped.ORDER_REVISION, steps=tuple(steps))

    assert found(shipped_with(revising)) == [
        "step order-revision/revision_decision reads PaymentReauthorized | RevisionRequested | ReauthorizationDeclined"
        ", but AcceptanceDecision reaches it: order-revision/payment_reauthorized hands on its own input when it "
        "returns SKIP (expected=PaymentReauthorized | RevisionRequested | ReauthorizationDeclined "
        "actual=AcceptanceDecision)"
    ]


def test_an_aux_branch_is_built_on_the_primary_checkpoint():
    counted = Step(
        "publish",
        lane.publish,
        DocumentPublished,
        branches=(primary("published", DocumentPublished), aux("stats", DocumentStats, branches.count)),
    )
    broken = dataclasses.replace(
        lane.COMPOSITION, pipelines=(lane.INGEST, dataclasses.replace(lane.PUBLISH, steps=(counted,)), lane.MANUAL)
    )

    assert found(broken) == [
        "aux branch 'stats' of step publish/publish reads DocumentStats, but DocumentPublished reaches it: it is "
        "built on the primary checkpoint of publish/publish (expected=DocumentStats actual=DocumentPublished)"
    ]


def unresolved(ctx: StepContext[Nowhere]) -> Output:  # type: ignore[name-defined]  # noqa: F821
    raise AssertionError("never run")


def test_an_annotation_that_cannot_be_read_is_refused_and_a_lambda_is_not_checked():
    steps = (Step("unresolved", unresolved, DocumentPublished), Step("anything", lambda ctx: None, DocumentStats))
    broken = dataclasses.replace(
        lane.COMPOSITION,
        pipelines=(lane.INGEST, dataclasses.replace(lane.PUBLISH, steps=steps), lane.MANUAL),
    )

    assert found(broken) == [
        "step publish/unresolved declares an input type that cannot be read: name 'Nowhere' is not defined "
        "(expected=a resolvable StepContext[...] actual=an unknown name)"
    ]
