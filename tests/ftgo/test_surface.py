"""The FTGO surface in process: FTGO's bodies and numbers in, FTGO's shapes and states out, over TPFGo's services."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout import selectors, services
from checkout.models import Consumer, Courier, Restaurant
from checkout.order_request.models import OrderRequest
from ftgo.models import FtgoAlias
from pipelines.engine.registry import composition
from pipelines.recovery import backlog, pausing
from tests.conftest import all_insert_only_counts
from tests.ftgo.conftest import PRICE, consumer_body, created, order_body, restaurant_body


def test_a_consumer_gets_a_number_an_account_and_keeps_its_name(ftgo: APIClient) -> None:
    number = created(ftgo.post("/ftgo/consumers", consumer_body("Mary Ann", "Smith"), format="json"), "consumerId")
    alias = FtgoAlias.objects.get(number=number)
    assert alias.kind == "consumer" and Consumer.objects.get(pk=alias.tpfgo_id).name == "Mary Ann Smith"
    assert ftgo.get(f"/ftgo/consumers/{number}").json() == {
        "consumerId": number,
        "name": {"firstName": "Mary Ann", "lastName": "Smith"},
    }
    assert ftgo.get(f"/ftgo/accounts/{number}").json() == {"accountId": str(number)}  # FTGO's String accountId
    assert ftgo.get(f"/ftgo/accounts/{number + 1}").status_code == 404


def test_a_restaurant_accepts_by_hand_and_answers_both_services_shapes(ftgo: APIClient) -> None:
    number = created(ftgo.post("/ftgo/restaurants", restaurant_body(), format="json"), "id")
    restaurant = Restaurant.objects.get(pk=FtgoAlias.objects.get(number=number).tpfgo_id)
    assert (restaurant.acceptance_mode, restaurant.address) == ("manual", "1 Main Street, Unit 99, Oakland, CA 94611")
    assert ftgo.get(f"/ftgo/restaurants/{number}").json() == {
        "id": number,
        "restaurantId": number,
        "name": "My Restaurant",
        "menu": {"menuItems": [{"id": "1", "name": "Chicken Vindaloo", "price": PRICE}]},
    }


def test_an_order_awaiting_the_restaurant_is_ftgos_approved(ftgo: APIClient, placed: dict[str, int]) -> None:
    body = ftgo.get(f"/ftgo/orders/{placed['order']}").json()
    order_id = FtgoAlias.objects.get(number=placed["order"], kind="order").tpfgo_id
    assert body == {
        "orderId": placed["order"],
        "state": "APPROVED",
        "orderTotal": "61.70",
        "orderInfo": {"orderId": str(placed["order"]), "state": "APPROVED"},
        "consumerId": placed["consumer"],
        "restaurantId": placed["restaurant"],
        "lineItems": [{"menuItemId": "1", "name": "Chicken Vindaloo", "quantity": 5, "price": PRICE}],
        "tpfgo": {"orderId": order_id, "state": "AWAITING_ACCEPTANCE"},
    }
    request = OrderRequest.objects.get(order_id=order_id)
    assert request.delivery_time.isoformat() == "2026-12-04T18:30:05+00:00"  # FTGO's LocalDateTime, read as UTC


def test_the_history_lists_a_consumers_orders_newest_first(ftgo: APIClient, placed: dict[str, int]) -> None:
    second = created(
        ftgo.post("/ftgo/orders", order_body(placed["consumer"], placed["restaurant"], 2), format="json"), "orderId"
    )
    other = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    ftgo.post("/ftgo/orders", order_body(other, placed["restaurant"]), format="json")
    history = ftgo.get(f"/ftgo/orders?consumerId={placed['consumer']}").json()
    assert history["startKey"] is None  # FTGO's GetOrdersResponse names its next page; one page here
    orders = history["orders"]
    assert [(o["orderId"], o["status"], o["restaurantName"], o["orderTotal"]) for o in orders] == [
        (str(second), "APPROVED", "My Restaurant", "24.68"),
        (str(placed["order"]), "APPROVED", "My Restaurant", "61.70"),
    ]
    assert {o["restaurantId"] for o in orders} == {placed["restaurant"]}


def test_without_a_key_each_post_is_a_new_order_and_with_one_it_is_placed_once(
    ftgo: APIClient, placed: dict[str, int]
) -> None:
    body = order_body(placed["consumer"], placed["restaurant"])
    blind = [created(ftgo.post("/ftgo/orders", body, format="json"), "orderId") for _ in range(2)]
    keyed = [
        created(ftgo.post("/ftgo/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="ftgo-key-1"), "orderId")
        for _ in range(2)
    ]
    assert len({*blind, placed["order"]}) == 3 and keyed[0] == keyed[1] and keyed[0] not in blind
    assert OrderRequest.objects.count() == 4
    reused = ftgo.post(
        "/ftgo/orders",
        {**body, "lineItems": [{"menuItemId": "1", "quantity": 1}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ftgo-key-1",
    )
    assert reused.status_code == 409 and OrderRequest.objects.count() == 4


def test_cancelling_ends_cancelled_and_the_history_shows_it(ftgo: APIClient, placed: dict[str, int]) -> None:
    response = ftgo.post(f"/ftgo/orders/{placed['order']}/cancel", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == response.json()["orderInfo"]["state"] == "CANCELLED"
    orders = ftgo.get(f"/ftgo/orders?consumerId={placed['consumer']}").json()["orders"]
    assert [o["status"] for o in orders] == ["CANCELLED"]
    before = all_insert_only_counts()
    again = ftgo.post(f"/ftgo/orders/{placed['order']}/cancel", {}, format="json")
    assert again.status_code == 200 and again.json()["state"] == "CANCELLED"  # the decision, replayed
    assert all_insert_only_counts() == before


def test_accepting_the_ticket_by_order_id_delivers_with_the_available_courier(
    ftgo: APIClient, placed: dict[str, int]
) -> None:
    pending = ftgo.get(f"/ftgo/deliveries/{placed['order']}").json()
    assert pending == {
        "deliveryInfo": {"id": placed["order"], "state": "PENDING"},
        "assignedCourier": None,
        "courierActions": [],
    }
    courier = 1733318400123
    available = ftgo.post(f"/ftgo/couriers/{courier}/availability", {"available": True}, format="json")
    assert available.json() == {"courierId": courier, "available": True}
    accepted = ftgo.post(f"/ftgo/tickets/{placed['order']}/accept", {"readyBy": "2026-12-04T21:00:00"}, format="json")
    assert accepted.status_code == 200 and accepted.json() == {"ticketId": placed["order"]}
    delivery = ftgo.get(f"/ftgo/deliveries/{placed['order']}").json()
    assert delivery == {
        "deliveryInfo": {"id": placed["order"], "state": "SCHEDULED"},
        "assignedCourier": courier,
        "courierActions": [],  # the courier completes deliveries on its own: picked up and dropped off
    }
    order_id = uuid.UUID(FtgoAlias.objects.get(number=placed["order"]).tpfgo_id)
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert selectors.acceptance(order_id).ready_by.isoformat() == "2026-12-04T21:00:00+00:00"
    refused = ftgo.post(f"/ftgo/orders/{placed['order']}/cancel", {}, format="json")
    assert refused.status_code == 412 and refused.json()["error"]["code"] == "FAILED_PRECONDITION"
    assert ftgo.get(f"/ftgo/orders/{placed['order']}").json()["state"] == "APPROVED"


def test_a_couriers_first_availability_creates_it_and_later_ones_update_it(ftgo: APIClient) -> None:
    for available in (True, False, True, False):
        response = ftgo.post("/ftgo/couriers/77/availability", {"available": available}, format="json")
        assert response.status_code == 200, response.content
    courier = Courier.objects.get()
    assert (courier.id, courier.available, courier.completion_mode) == ("ftgo-courier-77", False, "auto")
    assert list(FtgoAlias.objects.values_list("number", "kind", "tpfgo_id")) == [(77, "courier", "ftgo-courier-77")]


def test_a_number_a_client_took_is_skipped_by_the_sequence(ftgo: APIClient) -> None:
    first = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    ftgo.post(f"/ftgo/couriers/{first + 1}/availability", {"available": True}, format="json")
    second = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    # The counter (PostgreSQL's sequence, SQLite's AUTOINCREMENT) hands out first + 1, taken: the next one.
    assert second == first + 2
    assert FtgoAlias.objects.get(number=second).kind == "consumer" and Consumer.objects.count() == 2
    taken = ftgo.post(f"/ftgo/couriers/{first}/availability", {"available": True}, format="json")
    assert taken.status_code == 409 and Courier.objects.count() == 1


def test_another_kinds_number_is_not_found(ftgo: APIClient, placed: dict[str, int]) -> None:
    for path in (
        f"/ftgo/orders/{placed['consumer']}",
        f"/ftgo/consumers/{placed['order']}",
        f"/ftgo/restaurants/{placed['consumer']}",
        f"/ftgo/deliveries/{placed['restaurant']}",
        "/ftgo/orders/abc",
        "/ftgo/orders/-3",
        "/ftgo/no-such-route",
    ):
        response = ftgo.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND", path


ROUTES = [
    ("post", "/ftgo/consumers"),
    ("get", "/ftgo/consumers/{consumer}"),
    ("get", "/ftgo/accounts/{consumer}"),
    ("post", "/ftgo/restaurants"),
    ("get", "/ftgo/restaurants/{restaurant}"),
    ("post", "/ftgo/orders"),
    ("get", "/ftgo/orders?consumerId={consumer}"),
    ("get", "/ftgo/orders/{order}"),
    ("post", "/ftgo/orders/{order}/cancel"),
    ("post", "/ftgo/orders/{order}/revise"),
    ("post", "/ftgo/tickets/{order}/accept"),
    ("post", "/ftgo/couriers/7/availability"),
    ("get", "/ftgo/deliveries/{order}"),
]


def test_the_surface_needs_a_token(db: None) -> None:
    response = APIClient().post("/ftgo/consumers", consumer_body(), format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert Consumer.objects.count() == 0


@pytest.mark.parametrize(
    ("kind", "binding"), [("ordering-client", "{consumer}"), ("courier", "courier-x"), ("subscriber", "")]
)
def test_only_the_gateway_and_ops_may_call_it_and_a_denied_call_stores_nothing(
    ftgo: APIClient, placed: dict[str, int], kind: str, binding: str
) -> None:
    ids = {name: FtgoAlias.objects.get(number=number).tpfgo_id for name, number in placed.items()}
    if kind == "courier":
        Courier.objects.create(id="courier-x", name="X")
    other = APIClient()
    token = create_token(kind=kind, binding=binding.format(**ids), name=f"test-{kind}").key
    other.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    ops = APIClient()
    ops.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind='ops', name='test-ops').key}")
    before = all_insert_only_counts()
    for method, path in ROUTES:
        url = path.format(**placed)
        denied = getattr(other, method)(url, {"bogus": 1} if method == "post" else None, format="json")
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "PERMISSION_DENIED", url
        for allowed in (ftgo, ops):  # the route's own answer: a refused body, or the resource
            answer = getattr(allowed, method)(url, {"bogus": 1} if method == "post" else None, format="json")
            assert answer.status_code in (200, 400), (url, answer.content)
    assert all_insert_only_counts() == before


TEN = {"revisedOrderLineItems": [{"quantity": 10, "menuItemId": "1"}]}


def revisions() -> dict[str, int]:
    return {k: v for k, v in all_insert_only_counts().items() if "revision" in k.lower() or "Revis" in k}


def test_revising_to_ten_items_prices_ten_and_stays_approved(ftgo: APIClient, placed: dict[str, int]) -> None:
    response = ftgo.post(f"/ftgo/orders/{placed['order']}/revise", TEN, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["orderTotal"], body["state"], body["orderInfo"]["state"]) == ("123.40", "APPROVED", "APPROVED")
    assert [(li["menuItemId"], li["quantity"]) for li in body["lineItems"]] == [("1", 10)]
    assert ftgo.get(f"/ftgo/orders/{placed['order']}").json() == body


def test_a_revision_with_a_key_is_applied_once_and_without_one_each_post_is_a_revision(
    ftgo: APIClient, placed: dict[str, int]
) -> None:
    path = f"/ftgo/orders/{placed['order']}/revise"
    order_id = uuid.UUID(FtgoAlias.objects.get(number=placed["order"]).tpfgo_id)
    for _ in range(2):
        assert ftgo.post(path, TEN, format="json", HTTP_IDEMPOTENCY_KEY="rev-1").status_code == 200
    assert len(services.get_order(order_id)["revisions"]) == 1
    other = {"revisedOrderLineItems": [{"quantity": 9, "menuItemId": "1"}]}
    reused = ftgo.post(path, other, format="json", HTTP_IDEMPOTENCY_KEY="rev-1")
    assert reused.status_code == 412 and len(services.get_order(order_id)["revisions"]) == 1
    for _ in range(2):
        assert ftgo.post(path, TEN, format="json").status_code == 200
    assert len(services.get_order(order_id)["revisions"]) == 3


def test_a_revision_after_the_restaurant_accepted_is_refused_and_the_order_kept(
    ftgo: APIClient, placed: dict[str, int]
) -> None:
    ftgo.post("/ftgo/couriers/5/availability", {"available": True}, format="json")
    assert ftgo.post(f"/ftgo/tickets/{placed['order']}/accept", {}, format="json").status_code == 200
    response = ftgo.post(f"/ftgo/orders/{placed['order']}/revise", TEN, format="json")
    assert response.status_code == 412, response.content
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("FAILED_PRECONDITION", [{"field": "orderId", "issue": "TOO_LATE"}])
    order = ftgo.get(f"/ftgo/orders/{placed['order']}").json()
    assert (order["orderTotal"], order["lineItems"][0]["quantity"]) == ("61.70", 5)
    order_id = uuid.UUID(order["tpfgo"]["orderId"])
    assert [r["outcome"] for r in services.get_order(order_id)["revisions"]] == ["REFUSED"]  # recorded


def test_a_revision_below_the_restaurants_minimum_is_refused(ftgo: APIClient, placed: dict[str, int]) -> None:
    Restaurant.objects.filter(pk=FtgoAlias.objects.get(number=placed["restaurant"]).tpfgo_id).update(
        order_minimum="50.00"
    )
    one = {"revisedOrderLineItems": [{"quantity": 1, "menuItemId": "1"}]}
    response = ftgo.post(f"/ftgo/orders/{placed['order']}/revise", one, format="json")
    assert response.status_code == 412 and response.json()["error"]["details"][0]["issue"] == "BELOW_MINIMUM"
    assert ftgo.get(f"/ftgo/orders/{placed['order']}").json()["orderTotal"] == "61.70"


def test_a_revision_waiting_for_its_re_authorization_is_revision_pending(
    ftgo: APIClient, placed: dict[str, int], settings: Any
) -> None:
    settings.TPFGO_PAYMENT_GATEWAY = "tests.ftgo.gateways.DownForRevisions"
    response = ftgo.post(f"/ftgo/orders/{placed['order']}/revise", TEN, format="json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "UNAVAILABLE"
    order = ftgo.get(f"/ftgo/orders/{placed['order']}").json()
    assert (order["state"], order["orderInfo"]["state"], order["orderTotal"]) == (
        "REVISION_PENDING",
        "REVISION_PENDING",
        "61.70",
    )
    history = ftgo.get(f"/ftgo/orders?consumerId={placed['consumer']}").json()["orders"]
    assert [o["status"] for o in history] == ["REVISION_PENDING"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"revisedOrderLineItems": [{"quantity": 0, "menuItemId": "1"}]}, "revisedOrderLineItems"),  # nothing left
        ({"revisedOrderLineItems": [{"quantity": -1, "menuItemId": "1"}]}, "revisedOrderLineItems[0].quantity"),
        ({"revisedOrderLineItems": [{"quantity": 1, "menuItemId": "nope"}]}, "revisedOrderLineItems[0].menuItemId"),
        (  # the client's index, not the index among the lines kept
            {"revisedOrderLineItems": [{"quantity": 0, "menuItemId": "1"}, {"quantity": 1, "menuItemId": "nope"}]},
            "revisedOrderLineItems[1].menuItemId",
        ),
        ({"revisedOrderLineItems": []}, "revisedOrderLineItems"),
        ({}, "revisedOrderLineItems"),
    ],
)
def test_a_bad_revision_is_refused_and_stores_nothing(
    ftgo: APIClient, placed: dict[str, int], body: dict[str, Any], field: str
) -> None:
    before = all_insert_only_counts()
    response = ftgo.post(f"/ftgo/orders/{placed['order']}/revise", body, format="json")
    assert response.status_code == 400, response.content
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]
    assert all_insert_only_counts() == before


def test_a_revision_to_zero_of_a_line_takes_its_item_off_the_order_as_ftgo_does(ftgo: APIClient) -> None:
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    menu = restaurant_body()
    menu["menu"]["menuItems"].append({"id": "2", "name": "Naan", "price": "3.00"})
    restaurant = created(ftgo.post("/ftgo/restaurants", menu, format="json"), "id")
    both = order_body(
        consumer, restaurant, lineItems=[{"menuItemId": "1", "quantity": 5}, {"menuItemId": "2", "quantity": 2}]
    )
    order = created(ftgo.post("/ftgo/orders", both, format="json"), "orderId")
    revision = {"revisedOrderLineItems": [{"quantity": 5, "menuItemId": "1"}, {"quantity": 0, "menuItemId": "2"}]}
    response = ftgo.post(f"/ftgo/orders/{order}/revise", revision, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(li["menuItemId"], li["quantity"]) for li in body["lineItems"]] == [("1", 5)]
    assert (body["orderTotal"], body["state"]) == ("61.70", "APPROVED")


def test_a_rejected_order_has_no_ticket_to_accept(ftgo: APIClient) -> None:
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    restaurant = created(ftgo.post("/ftgo/restaurants", restaurant_body(), format="json"), "id")
    Consumer.objects.filter(pk=FtgoAlias.objects.get(number=consumer).tpfgo_id).update(active=False)
    order = created(ftgo.post("/ftgo/orders", order_body(consumer, restaurant), format="json"), "orderId")
    assert ftgo.get(f"/ftgo/orders/{order}").json()["state"] == "REJECTED"
    before = all_insert_only_counts()
    response = ftgo.post(f"/ftgo/tickets/{order}/accept", {}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert all_insert_only_counts() == before
    delivery = ftgo.get(f"/ftgo/deliveries/{order}").json()
    assert delivery["deliveryInfo"]["state"] == "CANCELLED" and delivery["assignedCourier"] is None


@override_settings(TPFGO_BACKLOG_BOUND=1, TPFGO_BACKLOG_CHECK_SECONDS=3)
def test_at_the_backlog_bound_an_order_is_429_as_the_schema_says_and_stores_nothing(
    ftgo: APIClient, placed: dict[str, int]
) -> None:
    pausing.pause(composition(), "checkout", "initial_order", actor="ops", reason="held like a cut placement")
    created(ftgo.post("/ftgo/orders", order_body(placed["consumer"], placed["restaurant"]), format="json"), "orderId")
    backlog.forget()  # as after the check period
    before = {**all_insert_only_counts(), "aliases": FtgoAlias.objects.count()}

    refused = ftgo.post("/ftgo/orders", order_body(placed["consumer"], placed["restaurant"]), format="json")
    assert refused.status_code == 429 and refused["Retry-After"] == "3"
    assert refused.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert {**all_insert_only_counts(), "aliases": FtgoAlias.objects.count()} == before
    schema = ftgo.get("/api/v1/schema?format=json").json()
    assert "429" in schema["paths"]["/ftgo/orders"]["post"]["responses"]


def test_an_empty_array_for_a_delivery_time_is_no_delivery_time_as_jackson_reads_it(ftgo: APIClient) -> None:
    """Jackson's LocalDateTimeDeserializer reads [] as null, as it reads "" (which this surface took as absent); []
    was refused with 400 deliveryTime."""
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    restaurant = created(ftgo.post("/ftgo/restaurants", restaurant_body(), format="json"), "id")
    placed = ftgo.post("/ftgo/orders", order_body(consumer, restaurant, deliveryTime=[]), format="json")
    assert placed.status_code == 200, placed.content
    number = placed.json()["orderId"]
    request = OrderRequest.objects.get(order_id=FtgoAlias.objects.get(number=number).tpfgo_id)
    assert request.delivery_time is None
    accepted = ftgo.post(f"/ftgo/tickets/{number}/accept", {"readyBy": []}, format="json")
    assert accepted.status_code == 200, accepted.content


def test_an_order_number_in_a_url_is_decimal_digits_only(ftgo: APIClient) -> None:
    """Spring reads a long path variable through NumberUtils (hex, '#', a sign, whitespace removed); this surface
    reads FTGO's numbers as FTGO's clients print them, and any other form names no order (docs/ftgo.md)."""
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    restaurant = created(ftgo.post("/ftgo/restaurants", restaurant_body(), format="json"), "id")
    number = created(ftgo.post("/ftgo/orders", order_body(consumer, restaurant), format="json"), "orderId")
    assert ftgo.get(f"/ftgo/orders/{number}").status_code == ftgo.get(f"/ftgo/orders/0{number}").status_code == 200
    for form in (f"0x{number:x}", f"%23{number:x}", f"+{number}", f"%20{number}", f"{number}.0", f"-{number}"):
        answer = ftgo.get(f"/ftgo/orders/{form}")
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "NOT_FOUND"), form
