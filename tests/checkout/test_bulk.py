"""place_orders: the single path's answers and rows for many orders, through the batched engine."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkout import bulk, services
from checkout.delivery_assigned.models import DeliveryAssigned
from checkout.models import CourierLoad, OpenTicket
from checkout.order_request.models import LineItem, OrderRequest
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.contracts.status import AlreadyExists, InvalidArgument
from pipelines.models import ErrorSinkEntry, LineageLink, ParkedItem
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts
from tests.snapshots import snapshot, wipe

pytestmark = pytest.mark.django_db

ORDERS = [
    (order_body(items=[{"menuItemId": "margherita", "quantity": 2}, {"menuItemId": "tiramisu", "quantity": 1}]), "b-1"),
    (order_body(consumer="carol"), "b-rejected"),  # inactive consumer: consumer-rejected → order-rejected
    (order_body(consumer="bob", restaurant="ajanta", items=[{"menuItemId": "samosa", "quantity": 2}]), "b-2"),
    (order_body(paymentToken="tok_declined"), "b-declined"),  # payment declined → order-rejected
    (order_body(restaurant="chez-manuel", items=[{"menuItemId": "crepe", "quantity": 1}]), "b-manual"),  # awaits
    (order_body(consumer="dave"), "b-review"),  # capture requires review: awaits ops
    (order_body(paymentToken="tok_capture_declined"), "b-capture-declined"),  # voided, failed-compensated
    (order_body(restaurant="sushi-kaiten", items=[{"menuItemId": "omakase", "quantity": 2}]), "b-3"),
]


def answer_views(answers):
    return [a.view if isinstance(a, services.Placed) else (type(a).__name__, a.code) for a in answers]


def comparable(view):
    """An order view without what depends on the clock."""
    return {k: v for k, v in view.items() if k != "checkpoints"} | {
        "checkpoints": sorted((c["type"], c["id"], c["pipeline"]) for c in view["checkpoints"])
    }


def test_place_orders_stores_exactly_the_rows_and_answers_of_place_order(demo_data):
    single = [services.place_order(body, key) for body, key in ORDERS]
    expected_rows = snapshot()
    wipe()

    batched = bulk.place_orders(ORDERS)

    assert snapshot() == expected_rows
    assert [comparable(a.view) for a in batched] == [comparable(p.view) for p in single]
    assert [a.created for a in batched] == [True] * len(ORDERS)
    states = [a.view["state"] for a in batched]
    assert states == [
        "COMPLETED",
        "REJECTED",
        "COMPLETED",
        "REJECTED",
        "AWAITING_ACCEPTANCE",
        "REVIEW_REQUIRED",
        "PAYMENT_FAILED",
        "COMPLETED",
    ]


def test_a_replayed_batch_inserts_nothing_and_answers_the_same_orders(demo_data):
    first = bulk.place_orders(ORDERS)
    before = all_insert_only_counts()

    again = bulk.place_orders(ORDERS)

    assert all_insert_only_counts() == before
    assert [a.created for a in again] == [False] * len(ORDERS)
    assert [a.view["orderId"] for a in again] == [a.view["orderId"] for a in first]


def test_each_command_is_validated_and_keyed_like_place_order(demo_data):
    bulk.place_orders([ORDERS[0]])
    answers = bulk.place_orders(
        [
            (order_body(items=[]), "b-invalid"),
            (ORDERS[2][0], ORDERS[0][1]),  # a stored key with another command
            (ORDERS[2][0], None),  # no key
            ORDERS[2],
            (ORDERS[3][0], ORDERS[2][1]),  # the same key again in this batch, another command
            ORDERS[2],  # and the same command again: a replay
        ]
    )
    assert [type(a).__name__ for a in answers] == [
        "InvalidArgument",
        "AlreadyExists",
        "InvalidArgument",
        "Placed",
        "AlreadyExists",
        "Placed",
    ]
    assert isinstance(answers[0], InvalidArgument) and isinstance(answers[1], AlreadyExists)
    assert answers[3].created and not answers[5].created
    assert OrderRequest.objects.count() == 2 and LineItem.objects.count() == 3


def test_a_failing_order_gets_one_sink_entry_and_its_batch_mates_complete(demo_data):
    answers = bulk.place_orders([ORDERS[0], (order_body(paymentToken="tok_down"), "b-down"), ORDERS[2]])

    views = [a.view for a in answers]
    assert [v["state"] for v in views] == ["COMPLETED", "APPROVAL_PENDING", "COMPLETED"]
    assert views[1]["stalled"]["step"] == "payment_authorized"
    entry = ErrorSinkEntry.objects.get()
    assert (entry.pipeline, entry.step, entry.error_code) == (
        "consumer-validation",
        "payment_authorized",
        "PAYMENT_GATEWAY_UNAVAILABLE",
    )
    assert ParkedItem.objects.count() == 1
    assert TerminalOrderState.objects.count() == 2


def test_short_answers_carry_the_derived_state(demo_data):
    answers = bulk.place_orders(ORDERS[:2], views=False)
    assert [(a.view["requestId"], a.view["state"]) for a in answers] == [
        ("b-1", "COMPLETED"),
        ("b-rejected", "REJECTED"),
    ]


def test_the_derived_tables_follow_the_facts(demo_data):
    bulk.place_orders(ORDERS)
    # Every delivery was completed; only the manual restaurant's ticket is still undecided.
    assert DeliveryAssigned.objects.count() == 5
    assert list(CourierLoad.objects.values_list("courier_id", "active")) == [("courier-ann", 0)]
    assert list(OpenTicket.objects.values_list("order_id", flat=True)) == [services.order_id_for("b-manual")]


def cold() -> None:
    """The paused steps and the backlog count are read once per period per process: both captures read them."""
    from pipelines import backlog, pauses

    pauses.invalidate()
    backlog.forget()


def test_a_batch_step_reads_each_fact_once_for_the_whole_batch(demo_data, settings):
    # The paused steps and the backlog are read again every 2 s: on a slow machine a batch outlived that and counted
    # one read more (118 against 117 in a loaded CI run). Held for the test, the counts compare statements per order.
    settings.TPFGO_PAUSE_CACHE_SECONDS = settings.TPFGO_BACKLOG_CHECK_SECONDS = 3600
    orders = [(order_body(), f"q-{n}") for n in range(20)]
    cold()
    with CaptureQueriesContext(connection) as few:
        bulk.place_orders(orders[:2], views=False)
    cold()
    with CaptureQueriesContext(connection) as many:
        bulk.place_orders(orders[2:], views=False)
    # Ten times the orders, the same statements: no query per order (inside a test transaction nothing
    # commits, so every step still looks its output up: one query per table for the whole batch).
    assert len(many.captured_queries) == len(few.captured_queries)
    assert LineageLink.objects.filter(child_type="OrderRequest").count() == 0


@pytest.mark.django_db(transaction=True)
def test_committed_batches_store_the_rows_of_committed_single_orders():
    from checkout import demo

    demo.load()
    single = [services.place_order(body, key) for body, key in ORDERS]
    expected_rows = snapshot()
    wipe()

    batched = bulk.place_orders(ORDERS)

    assert snapshot() == expected_rows
    assert [comparable(a.view) for a in batched] == [comparable(p.view) for p in single]


def test_couriers_who_confirm_by_hand_are_balanced_in_a_batch_as_one_order_after_another(demo_data):
    from checkout.models import Courier

    Courier.objects.filter(pk__in=["courier-ann", "courier-ben"]).update(completion_mode=Courier.MANUAL)
    orders = [(order_body(), f"m-{n}") for n in range(5)]
    single = [services.place_order(body, key) for body, key in orders]
    assert [p.view["courierId"] for p in single] == ["courier-ann", "courier-ben"] * 2 + ["courier-ann"]
    expected_rows = snapshot()
    wipe()
    assert list(CourierLoad.objects.values_list("active", flat=True)) == [0, 0]

    batched = bulk.place_orders(orders)

    assert snapshot() == expected_rows
    assert [a.view["courierId"] for a in batched] == [p.view["courierId"] for p in single]
    assert dict(CourierLoad.objects.values_list("courier_id", "active")) == {"courier-ann": 3, "courier-ben": 2}
