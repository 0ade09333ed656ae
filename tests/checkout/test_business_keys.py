"""A checkout fact's business key is its order id, enforced by the unique constraint on ``order_id``: a second
fact of the same kind for the order, from another path, loses to the stored one (not an error, nothing written).
The exceptions: kitchen tasks (one per task), the ticket's decision slot (one per round) and a revision's facts
(one per revision).
"""

import pytest

from checkout import services
from checkout.kitchen_commitment.models import KitchenCommitment
from checkout.order_accepted_by_restaurant.models import OrderAcceptedByRestaurant
from pipelines.engine.batch import BatchEngine
from pipelines.engine.registry import checkpoint_models, composition, engine
from pipelines.models import ErrorSinkEntry, business_key_columns
from tests.checkout.conftest import place
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db


def test_every_checkout_fact_enforces_its_business_key_on_its_own_columns(settings):
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"  # checkout's facts (the site runs the lane too)
    columns = {name: business_key_columns(model) for name, model in checkpoint_models().items()}
    assert columns.pop("KitchenTask") == ("order_id", "task_name", "branch")
    assert columns.pop("AcceptanceDecision") == ("order_id", "round", "branch")
    assert columns.pop("DeliveryEscalated") == ("order_id", "stage", "branch")  # a pickup's and a dropoff's escalation
    revision = ["RevisionRequested", "PaymentReauthorized", "ReauthorizationDeclined", "RevisionAccepted"]
    revision += ["RevisionRefused", "RevisedOrder", "RevisedTicket"]
    assert {columns.pop(name) for name in revision} == {("revision_id",)}
    assert set(columns.values()) == {("order_id", "branch")}


@pytest.mark.parametrize("path", ["single", "batched"])
def test_the_kitchen_loses_its_commitment_to_an_accepted_cancellation(demo_data, settings, path):
    settings.TPFGO_COMPOSITION = "tests.checkout.compositions.WITHOUT_KITCHEN"
    view = place(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}]).view
    services.accept_ticket(view["kitchenTicketId"])
    settings.TPFGO_COMPOSITION = "checkout.composition.COMPOSITION"
    assert services.cancel_order(view["orderId"])["cancellation"]["outcome"] == "ACCEPTED"
    winner = KitchenCommitment.objects.get(order_id=view["orderId"])
    accepted = OrderAcceptedByRestaurant.objects.get(order_id=view["orderId"])
    before = all_insert_only_counts()

    if path == "single":
        execution = engine().run("kitchen-preparation", accepted)
    else:
        [execution] = BatchEngine(composition()).run_many("kitchen-preparation", [accepted])

    assert winner.claimed_by == KitchenCommitment.CANCELLATION
    assert execution.first.status == "lost" and execution.first.lost_to == winner.pk
    assert all_insert_only_counts() == before
    assert ErrorSinkEntry.objects.count() == 0
