"""The payment gateway simulator of the ``make run`` tests (the process edge): retries take a while.

A retry (attempt 2 and later) writes ``retry-started`` into ``$TPFGO_VAR_DIR`` and then takes
``TPFGO_TEST_RETRY_SECONDS``, so a test can stop ``make run`` while the worker's task is in flight.
"""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal
from pathlib import Path

from checkout.payments import Authorization, SimulatedGateway


class SlowRetryGateway(SimulatedGateway):
    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        if attempt > 1:
            with (Path(os.environ["TPFGO_VAR_DIR"]) / "retry-started").open("a") as marker:
                marker.write(f"{order_id}\n")
            time.sleep(float(os.environ.get("TPFGO_TEST_RETRY_SECONDS", "0")))
        return super().authorize(order_id, amount, currency, token, attempt)
