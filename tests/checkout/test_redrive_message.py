"""A redrive runs its attempt in the process that asked for it and sends it to no worker: a worker that took such a
message first ran the attempt itself, while the action reported ``claimed-elsewhere`` and a bulk run counted the order
done whatever that run did (docs/operations.md, "Remediation" and "Bulk remediation")."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from checkout import bulk_remediation, ops_actions
from pipelines.failures import parking
from pipelines.models import BulkRunResult, OpsAction, RetryClaim
from pipelines.recovery import retries
from tests.checkout.conftest import place
from tests.checkout.test_ops_actions import WHO, dead_letter

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit: a message goes out as the schedule commits

SENT: list[tuple[uuid.UUID, int]] = []


def fast_worker(parked_id: uuid.UUID, attempt: int, due: datetime) -> bool:
    """The enqueue hook of a worker that takes the message before the redrive claims the attempt."""
    SENT.append((parked_id, attempt))
    retries.run_attempt(parked_id, attempt, worker="celery-task@worker-host")
    return True


@pytest.fixture
def fast_workers(settings):
    SENT.clear()
    yield lambda: setattr(settings, "TPFGO_RETRY_ENQUEUE", f"{__name__}.fast_worker")
    SENT.clear()


def test_a_redrive_runs_its_attempt_itself_and_sends_no_message(demo_data, fast_workers):
    order_id = place(paymentToken="tok_flaky_4").view["orderId"]
    parked = dead_letter(order_id)
    fast_workers()
    shown = ops_actions.preview("redrive", order_id)

    view = ops_actions.execute("redrive", order_id, expected_seq=shown["expectedSeq"], **WHO)

    assert SENT == []
    assert OpsAction.objects.get(pk=view["opsActionId"]).result["status"] == "inserted"
    assert RetryClaim.objects.get(parked=parked, attempt=5).worker == "ops:ops:erin"
    assert view["state"] == "COMPLETED"


def test_a_bulk_redrive_that_fails_again_is_failed_whoever_is_fastest(settings, demo_data, fast_workers):
    order_id = uuid.UUID(place(paymentToken="tok_down").view["orderId"])
    dead_letter(str(order_id))
    fast_workers()

    run = bulk_remediation.submit(
        "redrive", bulk_remediation.plan_of(bulk_remediation.preview("redrive", [order_id])), **WHO
    )
    progress = bulk_remediation.run_to_end(run.id)

    assert (progress["done"], progress["failed"]) == (0, 1)
    assert BulkRunResult.objects.get(run=run).detail.startswith("the re-run failed again")
    assert parking.open_failure(order_id).dead_lettered  # type: ignore[union-attr]


def test_beats_release_of_due_retries_does_not_send_a_redrives_attempt_before_it_is_claimed(
    demo_data, fast_workers, monkeypatch
):
    from pipelines.recovery import actions, sweeper

    order_id = place(paymentToken="tok_flaky_4").view["orderId"]
    parked = dead_letter(order_id)
    fast_workers()
    claim = retries.run_attempt

    def release_first(parked_pk, attempt, worker=""):  # beat's pass lands between the schedule and the claim
        assert sweeper.release_due() == 0
        return claim(parked_pk, attempt, worker=worker)

    monkeypatch.setattr(actions.retries, "run_attempt", release_first)
    shown = ops_actions.preview("redrive", order_id)
    view = ops_actions.execute("redrive", order_id, expected_seq=shown["expectedSeq"], **WHO)

    assert SENT == []
    assert RetryClaim.objects.get(parked=parked, attempt=5).worker == "ops:ops:erin"
    assert view["state"] == "COMPLETED"
