"""The payment gateway: an adapter boundary with a deterministic simulator as the default.

The engine passes the step's attempt number, so the simulator answers the same in the web process and in
the worker. A real provider plugs in by ``TPFGO_PAYMENT_GATEWAY`` (a dotted path to a class with the same
methods); it should send ``key`` as the provider's idempotency key. The key is the order's (``capture:<order>``)
on the order's main branch and on a fork that reuses its parent's keys, so a provider answers a fork's capture
with the capture already made (``effect_key``), and refuses the key with another amount (``IdempotencyKeyReused``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from pipelines import NonRetryableError, RetryableError, storage

# The decline an order's payment step records, without asking the gateway, when the consumer's payment token was
# erased while the order waited (``checkout.personal.payment_token``): there is no card left to charge.
CONSUMER_ERASED = "consumer_erased"


class GatewayUnavailable(RetryableError):
    """The gateway timed out or answered 5xx: transient, retried with backoff."""

    code = "PAYMENT_GATEWAY_UNAVAILABLE"


class IdempotencyKeyReused(NonRetryableError):
    """The gateway refused a request whose idempotency key it already saw with other parameters."""

    code = "IDEMPOTENCY_KEY_REUSED"


def effect_key(effect: str, order_id: uuid.UUID) -> str:
    """The idempotency key of the order's ``effect`` (``capture``, ``void``, ``refund``) on the branch that runs."""
    return storage.effect_key(f"{effect}:{order_id}", order_id)


@dataclass(frozen=True)
class Authorization:
    approved: bool
    authorization_id: str = ""
    decline_code: str = ""


@dataclass(frozen=True)
class Capture:
    variant: str  # captured | rejected | requires_review
    payment_id: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    review_reason: str | None = None


class PaymentGateway(Protocol):
    def authorize(
        self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int
    ) -> Authorization: ...

    def reauthorize(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, currency: str, token: str, attempt: int
    ) -> Authorization:
        """Authorize a revised amount in place of ``authorization_id`` (a decline leaves it as it was)."""
        ...

    def capture(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, token: str, attempt: int, key: str = ""
    ) -> Capture: ...

    def capture_reviewed(self, order_id: uuid.UUID, authorization_id: str, amount: Decimal) -> str:
        """Capture a payment ops approved after a review; returns the payment id."""
        ...

    def void(self, order_id: uuid.UUID, authorization_id: str) -> str: ...

    def refund(self, order_id: uuid.UUID, payment_id: str, amount: Decimal) -> str: ...


_FLAKY = re.compile(r"^tok_flaky_([1-9])$")


class SimulatedGateway:
    """docs/chain.md's gateway table: tok_ok, tok_declined, tok_capture_declined, tok_review, tok_flaky_N,
    tok_down, and tok_reauth_declined (authorizes an order, declines every re-authorization of a revision)."""

    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        flaky = _FLAKY.match(token)
        if token == "tok_down" or (flaky and attempt <= int(flaky.group(1))):
            raise GatewayUnavailable(f"payment gateway unavailable (simulated, attempt {attempt})")
        if token in ("tok_ok", "tok_capture_declined", "tok_review", "tok_reauth_declined") or flaky:
            return Authorization(approved=True, authorization_id=f"auth_{order_id.hex[:20]}")
        return Authorization(approved=False, decline_code="card_declined")

    def reauthorize(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, currency: str, token: str, attempt: int
    ) -> Authorization:
        if token == "tok_reauth_declined":
            return Authorization(approved=False, decline_code="card_declined")
        return self.authorize(order_id, amount, currency, token, attempt)

    def capture(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, token: str, attempt: int, key: str = ""
    ) -> Capture:
        if amount <= 0:
            return Capture("rejected", failure_code="invalid_amount", failure_reason="capture amount must be > 0")
        if token == "tok_capture_declined":
            return Capture("rejected", failure_code="capture_declined", failure_reason="issuer declined the capture")
        if token == "tok_review":
            return Capture("requires_review", review_reason="issuer flagged the capture for manual review")
        return Capture("captured", payment_id=f"pay_{order_id.hex[:20]}")

    def capture_reviewed(self, order_id: uuid.UUID, authorization_id: str, amount: Decimal) -> str:
        return f"pay_{order_id.hex[:20]}"

    def void(self, order_id: uuid.UUID, authorization_id: str) -> str:
        return f"void_{order_id.hex[:20]}"

    def refund(self, order_id: uuid.UUID, payment_id: str, amount: Decimal) -> str:
        return f"refund_{order_id.hex[:20]}"


@cache
def _load(path: str) -> PaymentGateway:
    gateway: PaymentGateway = import_string(path)()
    return gateway


def gateway() -> PaymentGateway:
    """The gateway, once every fact before the call is durable: a crash never leaves a charge the database forgot
    (``TPFGO_DURABILITY``, docs/architecture.md "Durability at the boundary")."""
    storage.durable()
    return _load(getattr(settings, "TPFGO_PAYMENT_GATEWAY", "checkout.payments.SimulatedGateway"))
