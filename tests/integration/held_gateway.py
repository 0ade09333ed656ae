"""A payment gateway whose authorization waits for the test (the process edge): a unary call held in flight while
the gRPC server stops. It marks its arrival with the file ``arrived`` in ``$TPFGO_TEST_HOLD_DIR`` and answers, as the
simulator does, once the test writes ``release`` there.
"""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal
from pathlib import Path

from checkout.payments import Authorization, SimulatedGateway


class HeldGateway(SimulatedGateway):
    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        hold = Path(os.environ["TPFGO_TEST_HOLD_DIR"])
        (hold / "arrived").touch()
        while not (hold / "release").exists():
            time.sleep(0.05)
        return super().authorize(order_id, amount, currency, token, attempt)
