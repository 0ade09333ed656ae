"""The accepted revision's lines and total become the order's current content."""

from __future__ import annotations

from checkout import selectors
from checkout.revision_decision.models import RevisionAccepted
from pipelines import Output, StepContext


def process(ctx: StepContext[RevisionAccepted]) -> Output:
    accepted = ctx.input
    revision = selectors.revision_request(accepted.revision_id)
    assert revision is not None
    return Output(
        {
            "revision_id": revision.revision_id,
            "order_id": revision.order_id,
            "lines": revision.lines,
            "order_total": revision.order_total,
            "currency": revision.currency,
        }
    )
