"""A remediation from the console runs its steps in the order's trace, linked to the console's request."""

from __future__ import annotations

import pytest

from checkout.models import Courier
from pipelines.engine import tracing
from tests.opsconsole.test_confirm_page import confirm_url, preview_seq
from tests.tracing import server_spans, step_runs, step_spans

pytestmark = pytest.mark.django_db


def test_a_redrive_from_the_console_runs_its_steps_in_the_orders_trace(spans, ops_client, dead_order):
    Courier.objects.filter(pk="courier-ann").update(available=True)
    seq = preview_seq(ops_client, "redrive", dead_order)
    spans.clear()
    runs = step_runs()
    response = ops_client.post(
        confirm_url("redrive"), {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "back"}
    )
    assert response.status_code == 302

    steps = step_spans(spans)
    assert len(steps) == step_runs() - runs > 0
    assert {s.context.trace_id for s in steps} == {dead_order.int}  # the order's trace, not the console's
    (console,) = server_spans(spans)
    assert console.context.trace_id != dead_order.int
    root = tracing.step_span_id(dead_order, 0)
    assert {s.parent.span_id for s in steps} == {root}  # under the order's root span, never orphaned
    assert {tuple(link.context.span_id for link in s.links) for s in steps} == {(console.context.span_id,)}
