"""FTGO's paths with one trailing ``/``: Spring MVC, FTGO's web layer, serves them as the paths without it, and FTGO's
own clients send them (its consumer service's pass-through posts to ``/orders/`` and ``/restaurants/``)."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from ftgo.models import FtgoAlias
from tests.ftgo.conftest import consumer_body, created, order_body, restaurant_body
from tests.tracing import server_spans


def test_every_route_answers_with_one_trailing_slash_as_without_it(ftgo: APIClient) -> None:
    consumer = created(ftgo.post("/ftgo/consumers/", consumer_body(), format="json"), "consumerId")
    restaurant = created(ftgo.post("/ftgo/restaurants/", restaurant_body(), format="json"), "id")
    order = created(ftgo.post("/ftgo/orders/", order_body(consumer, restaurant), format="json"), "orderId")
    assert ftgo.get(f"/ftgo/consumers/{consumer}/").json()["consumerId"] == consumer
    assert ftgo.get(f"/ftgo/accounts/{consumer}/").status_code == 200
    assert ftgo.get(f"/ftgo/restaurants/{restaurant}/").json()["id"] == restaurant
    assert ftgo.get(f"/ftgo/orders/?consumerId={consumer}").json()["orders"][0]["orderId"] == str(order)
    assert ftgo.get(f"/ftgo/orders/{order}/").json()["state"] == "APPROVED"
    assert ftgo.get(f"/ftgo/deliveries/{order}/").json()["deliveryInfo"]["state"] == "PENDING"
    lines = {"revisedOrderLineItems": [{"menuItemId": "1", "quantity": 10}]}
    revised = ftgo.post(f"/ftgo/orders/{order}/revise/", lines, format="json")
    assert (revised.status_code, revised.json()["orderTotal"]) == (200, "123.40")
    courier = ftgo.post("/ftgo/couriers/1765000000000/availability/", {"available": True}, format="json")
    assert courier.status_code == 200
    assert (
        ftgo.post(f"/ftgo/tickets/{order}/accept/", {"readyBy": "2030-12-04T18:30"}, format="json").status_code == 200
    )
    assert ftgo.get(f"/ftgo/deliveries/{order}/").json()["assignedCourier"] is not None
    assert ftgo.post(f"/ftgo/orders/{order}/cancel/", "{}", content_type="application/json").status_code == 412
    assert FtgoAlias.objects.filter(kind="order").count() == 1


def test_two_trailing_slashes_are_no_route_and_the_schema_lists_each_route_once(ftgo: APIClient) -> None:
    answer = ftgo.get("/ftgo/orders//")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "NOT_FOUND")
    paths = [path for path in ftgo.get("/api/v1/schema?format=json").json()["paths"] if path.startswith("/ftgo/")]
    assert len(paths) == 12 and not [path for path in paths if path.endswith("/")]


def ftgo_series() -> dict[tuple[str, ...], float]:
    """Every ``/ftgo/`` sample of the request counter and the latency histogram's counts, by its labels."""
    return {
        (sample.name, *sample.labels.values()): sample.value
        for metric in REGISTRY.collect()
        if metric.name in ("tpfgo_requests", "tpfgo_request_seconds")
        for sample in metric.samples
        if sample.name in ("tpfgo_requests_total", "tpfgo_request_seconds_count") and "/ftgo/" in sample.labels["route"]
    }


def test_a_path_with_its_trailing_slash_is_counted_and_traced_as_its_route(
    ftgo: APIClient, spans: InMemorySpanExporter
) -> None:
    consumer = created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")
    before = ftgo_series()
    assert ftgo.get(f"/ftgo/consumers/{consumer}/").status_code == 200
    assert ftgo.get(f"/ftgo/consumers/{consumer}").status_code == 200
    assert ftgo.post("/ftgo/consumers/", consumer_body(), format="json").status_code == 200
    after = ftgo_series()
    added = {labels: value - before.get(labels, 0.0) for labels, value in after.items() if value != before.get(labels)}
    assert added == {
        ("tpfgo_requests_total", "GET /ftgo/consumers/{consumer_id}", "OK", "rest"): 2.0,
        ("tpfgo_request_seconds_count", "GET /ftgo/consumers/{consumer_id}", "rest"): 2.0,
        ("tpfgo_requests_total", "POST /ftgo/consumers", "OK", "rest"): 1.0,
        ("tpfgo_request_seconds_count", "POST /ftgo/consumers", "rest"): 1.0,
    }
    assert [route for _, route, *_ in after if route.endswith("/")] == []
    assert [(span.name, (span.attributes or {}).get("http.route")) for span in server_spans(spans)] == [
        ("POST ftgo/consumers", "ftgo/consumers"),
        ("GET ftgo/consumers/<str:consumer_id>", "ftgo/consumers/<str:consumer_id>"),
        ("GET ftgo/consumers/<str:consumer_id>", "ftgo/consumers/<str:consumer_id>"),
        ("POST ftgo/consumers", "ftgo/consumers"),
    ]
