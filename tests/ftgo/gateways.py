"""Payment gateways at the process edge for the FTGO tests."""

from __future__ import annotations

import uuid
from decimal import Decimal

from checkout.payments import Authorization, GatewayUnavailable, SimulatedGateway


class DownForRevisions(SimulatedGateway):
    """Authorizes orders; every re-authorization of a revision times out (a revision stays undecided)."""

    def reauthorize(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, currency: str, token: str, attempt: int
    ) -> Authorization:
        raise GatewayUnavailable("payment gateway unavailable (test: re-authorizations)")
