"""The payment gateway simulator (the process edge), recording every reviewed capture and every void it was asked
for."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

from checkout.payments import Authorization, Capture, GatewayUnavailable, IdempotencyKeyReused, SimulatedGateway

CAPTURES: list[uuid.UUID] = []
VOIDS: list[uuid.UUID] = []
_lock = threading.Lock()


class RecordingGateway(SimulatedGateway):
    def capture_reviewed(self, order_id: uuid.UUID, authorization_id: str, amount: Decimal) -> str:
        with _lock:
            CAPTURES.append(order_id)
        return super().capture_reviewed(order_id, authorization_id, amount)

    def void(self, order_id: uuid.UUID, authorization_id: str) -> str:
        with _lock:
            VOIDS.append(order_id)
        return super().void(order_id, authorization_id)


class KeyedGateway(SimulatedGateway):
    """The simulator keeping its captures by idempotency key, as a provider does: the same key again answers the
    stored capture and charges nothing; the same key with another amount is refused. ``CHARGES`` lists every
    charge made (key, amount)."""

    def capture(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, token: str, attempt: int, key: str = ""
    ) -> Capture:
        key = key or f"capture:{order_id}"
        with _lock:
            stored = BY_KEY.get(key)
            if stored is not None:
                if stored[0] != amount:
                    raise IdempotencyKeyReused(f"capture key {key} was used for {stored[0]}, not {amount}")
                return stored[1]
            result = super().capture(order_id, authorization_id, amount, token, attempt, key)
            BY_KEY[key] = (amount, result)
            if result.variant == "captured":
                CHARGES.append((key, amount))
            return result


CHARGES: list[tuple[str, Decimal]] = []
BY_KEY: dict[str, tuple[Decimal, Capture]] = {}


CAPTURE_CALLS: list[uuid.UUID] = []


class CountingGateway(SimulatedGateway):
    """Counts every capture the chain asks for (pipeline 07), whatever its answer."""

    def capture(self, order_id, authorization_id, amount, token, attempt, key=""):
        with _lock:
            CAPTURE_CALLS.append(order_id)
        return super().capture(order_id, authorization_id, amount, token, attempt, key)


TOKENS: list[tuple[str, str]] = []


class TokenGateway(SimulatedGateway):
    """The simulator recording the token each authorization, re-authorization and capture was given, in
    ``TOKENS`` as (call, token)."""

    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        TOKENS.append(("authorize", token))
        return super().authorize(order_id, amount, currency, token, attempt)

    def reauthorize(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, currency: str, token: str, attempt: int
    ) -> Authorization:
        TOKENS.append(("reauthorize", token))
        return super().reauthorize(order_id, authorization_id, amount, currency, token, attempt)

    def capture(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, token: str, attempt: int, key: str = ""
    ) -> Capture:
        TOKENS.append(("capture", token))
        return super().capture(order_id, authorization_id, amount, token, attempt, key)


AUTHORIZE_CALLS: list[uuid.UUID] = []
MEETING = threading.Barrier(2)  # reset by the test that uses it


class MeetingGateway(CountingGateway):
    """Counts every authorization and capture; an authorization waits (a few seconds at most) for a second one to be
    in the gateway at the same moment, so two runs of the step at once both reach the gateway, where nothing keeps
    them apart."""

    def authorize(self, order_id, amount, currency, token, attempt):
        with _lock:
            AUTHORIZE_CALLS.append(order_id)
        try:
            MEETING.wait(timeout=3)
        except threading.BrokenBarrierError:  # no second run came: it waits its turn, as it should
            pass
        return super().authorize(order_id, amount, currency, token, attempt)


CAPTURE_MEETING = threading.Barrier(2)  # reset by the test that uses it


class MeetingCaptureGateway(CountingGateway):
    """Counts every capture; a capture waits (a few seconds at most) for a second one to be in the gateway at the same
    moment, so two runs of the capture step at once both reach the gateway, where nothing keeps them apart."""

    def capture(self, order_id, authorization_id, amount, token, attempt, key=""):
        try:
            CAPTURE_MEETING.wait(timeout=3)
        except threading.BrokenBarrierError:  # no second run came: it waits its turn, as it should
            pass
        return super().capture(order_id, authorization_id, amount, token, attempt, key)


OUTAGE = {"authorizations": 0}  # how many authorizations from now on the gateway answers as unavailable


class OutageGateway(SimulatedGateway):
    """The simulator, unavailable for the next ``OUTAGE["authorizations"]`` authorizations whatever the token (a
    gateway outage that begins after the order was placed); then it answers as the simulator does."""

    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        with _lock:
            down = OUTAGE["authorizations"] > 0
            if down:
                OUTAGE["authorizations"] -= 1
        if down:
            raise GatewayUnavailable(f"payment gateway unavailable (an outage, attempt {attempt})")
        return super().authorize(order_id, amount, currency, token, attempt)


class EchoingGateway(SimulatedGateway):
    """A provider whose errors echo the request they refused, payment token and all, as a real gateway's often do:
    every authorization fails (an exception outside the project's classes, UNEXPECTED), its message quoting the
    token as the provider's JSON answer does and its cause as the form body sent did."""

    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        try:
            raise ConnectionResetError(f"POST /v1/charges amount={amount}&source={token}: connection reset")
        except ConnectionResetError as exc:
            raise RuntimeError(f'gateway answered 402: {{"error": {{"param": "source", "value": "{token}"}}}}') from exc


class EchoingReauthorizationGateway(SimulatedGateway):
    """A provider that authorizes every token and fails every re-authorization (a revision's), its error quoting
    the token it was handed, as ``EchoingGateway``'s does."""

    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        return Authorization(approved=True, authorization_id=f"auth_{order_id.hex[:20]}")

    def reauthorize(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, currency: str, token: str, attempt: int
    ) -> Authorization:
        raise RuntimeError(f"gateway answered 402: reauthorization of {authorization_id} refused for source={token}")
