"""The payment gateway simulator (the process edge), recording every reviewed capture it was asked for."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

from checkout.payments import SimulatedGateway

CAPTURES: list[uuid.UUID] = []
_lock = threading.Lock()


class RecordingGateway(SimulatedGateway):
    def capture_reviewed(self, order_id: uuid.UUID, authorization_id: str, amount: Decimal) -> str:
        with _lock:
            CAPTURES.append(order_id)
        return super().capture_reviewed(order_id, authorization_id, amount)


CAPTURE_CALLS: list[uuid.UUID] = []


class CountingGateway(SimulatedGateway):
    """Counts every capture the chain asks for (pipeline 07), whatever its answer."""

    def capture(self, order_id, authorization_id, amount, token, attempt):
        with _lock:
            CAPTURE_CALLS.append(order_id)
        return super().capture(order_id, authorization_id, amount, token, attempt)
