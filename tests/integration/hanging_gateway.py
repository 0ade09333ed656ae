"""A payment gateway whose first authorization of each order never answers (the process edge): the hung call of
``test_hung_worker``. Each order's hang leaves a file named for the order in ``$TPFGO_TEST_HANG_DIR``; a later call
for that order answers as the simulator does.
"""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal
from pathlib import Path

from checkout.payments import Authorization, SimulatedGateway

NEVER = 3600.0  # longer than any test: the call does not answer


class HangingGateway(SimulatedGateway):
    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        mark = Path(os.environ["TPFGO_TEST_HANG_DIR"]) / str(order_id)
        try:
            mark.touch(exist_ok=False)
        except FileExistsError:
            return super().authorize(order_id, amount, currency, token, attempt)
        time.sleep(NEVER)
        raise AssertionError("the hung call answered")
