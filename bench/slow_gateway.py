"""A deliberately slow downstream: the simulated payment gateway, with a pause before every capture.

Set ``TPFGO_PAYMENT_GATEWAY=bench.slow_gateway.SlowGateway`` and ``TPFGO_BENCH_CAPTURE_DELAY_MS`` (default 5).
"""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal

from checkout.payments import Capture, SimulatedGateway


class SlowGateway(SimulatedGateway):
    def capture(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, token: str, attempt: int, key: str = ""
    ) -> Capture:
        time.sleep(float(os.environ.get("TPFGO_BENCH_CAPTURE_DELAY_MS", "5")) / 1000)
        return super().capture(order_id, authorization_id, amount, token, attempt, key)
