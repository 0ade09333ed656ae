"""What makes a stored decision a replay of a command: its id, and for a deciding command what it decided."""

import datetime
import uuid

from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.composition import DELIVERY_EXECUTION, RESTAURANT_ACCEPTANCE
from pipelines.store import writes

ORDER, ID = uuid.uuid4(), uuid.uuid4()
NOON = datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC)


def decision(decided_by: str, *, pk: uuid.UUID = ID, reason: str = "", ready_by=None) -> AcceptanceDecision:
    return AcceptanceDecision(id=pk, order_id=ORDER, decided_by=decided_by, reason=reason, ready_by=ready_by)


def test_only_a_command_of_a_step_with_decision_fields_decides():
    acceptance = RESTAURANT_ACCEPTANCE.step("acceptance_decision")
    assert writes.decides(acceptance, {"decidedBy": "ACCEPTED"})
    assert not writes.decides(acceptance, None)  # the chain's own run: the id alone says "the same"
    assert not writes.decides(DELIVERY_EXECUTION.step("order_picked_up"), {"action": "pickup"})


def test_a_deciding_command_replays_only_the_same_decision():
    stored = decision("ACCEPTED", ready_by=NOON)
    assert writes.replays(stored, decision("ACCEPTED", ready_by=NOON + datetime.timedelta(hours=1)), True)
    assert not writes.replays(stored, decision("REJECTED", reason="closed"), True)
    assert not writes.replays(decision("REJECTED", reason="closed"), decision("REJECTED", reason="late"), True)
    assert not writes.replays(stored, decision("ACCEPTED", pk=uuid.uuid4()), True)  # another id: a loss


def test_without_a_decision_the_same_id_is_a_replay():
    assert writes.replays(decision("ACCEPTED"), decision("REJECTED"), False)
    assert not writes.replays(decision("ACCEPTED"), decision("ACCEPTED", pk=uuid.uuid4()), False)
