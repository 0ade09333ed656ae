"""Which orders the retention policy may remove: those whose derived state is terminal (docs/chain.md's state
table: CANCELLED, REJECTED, COMPLETED or PAYMENT_FAILED), answered for a batch of trace ids in three look-ups."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from checkout.order_cancelled.models import OrderCancelled
from checkout.order_rejected.models import OrderRejected
from checkout.terminal_order_state.models import TerminalOrderState


def terminal_orders(trace_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The orders among ``trace_ids`` (an order's trace id is its order id) that reached a terminal fact."""
    done: set[uuid.UUID] = set()
    for model in (OrderCancelled, OrderRejected, TerminalOrderState):
        done |= set(model.objects.filter(order_id__in=trace_ids).values_list("order_id", flat=True))
    return done
