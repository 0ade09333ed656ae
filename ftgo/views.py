"""``/ftgo/`` routes: FTGO's paths, bodies and status codes (200 on success), each calling one adapter function.

Authentication is TPFGo's API token (one header); refusals are TPFGo's error envelope with its codes.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from checkout.api import schema
from checkout.api.base import ApiView
from checkout.api.serializers import validated
from ftgo import jackson, orders, reference
from ftgo import serializers as s

TAG = "FTGO-compatible"
KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=r"^[A-Za-z0-9._:-]{1,128}$",
    description="optional: without one each request is a new command (a blind retry makes a second one, as in FTGO)",
)


class FtgoView(ApiView):
    """An ``/ftgo/`` route: JSON read as FTGO's Jackson reads it where the parsed JSON would lose it (``-0``)."""

    parser_classes = [jackson.JacksonJSONParser]


def _id(name: str, what: str, java: type[int] | OpenApiTypes = int) -> OpenApiParameter:
    """A path's FTGO number: ``int`` for the numbers TPFGo hands out within a Java ``int``; ``OpenApiTypes.INT64``
    for a courier's, which FTGO's client picks (its test takes the clock in milliseconds)."""
    return OpenApiParameter(name, java, OpenApiParameter.PATH, description=f"FTGO's numeric {what} id")


class ConsumersView(FtgoView):
    """FTGO's consumer service: register a consumer."""

    @extend_schema(
        operation_id="ftgoCreateConsumer",
        tags=[TAG],
        request=s.FtgoCreateConsumerSerializer,
        responses=schema.responses({200: s.FtgoConsumerCreatedSerializer}, schema.WITH_BODY),
    )
    def post(self, request: Request) -> Response:
        return Response(reference.create_consumer(validated(s.FtgoCreateConsumerSerializer, request.data)))


class ConsumerView(FtgoView):
    @extend_schema(
        operation_id="ftgoGetConsumer",
        tags=[TAG],
        parameters=[_id("consumer_id", "consumer")],
        responses=schema.responses({200: s.FtgoConsumerSerializer}, (*schema.COMMON, 404)),
    )
    def get(self, request: Request, consumer_id: str) -> Response:
        return Response(reference.get_consumer(consumer_id))


class AccountView(FtgoView):
    """FTGO's accounting service: a consumer's account exists once the consumer does."""

    @extend_schema(
        operation_id="ftgoGetAccount",
        tags=[TAG],
        parameters=[_id("account_id", "consumer")],
        responses=schema.responses({200: s.FtgoAccountSerializer}, (*schema.COMMON, 404)),
    )
    def get(self, request: Request, account_id: str) -> Response:
        return Response(reference.get_account(account_id))


class RestaurantsView(FtgoView):
    """FTGO's restaurant service: a restaurant created here accepts tickets by hand."""

    @extend_schema(
        operation_id="ftgoCreateRestaurant",
        tags=[TAG],
        request=s.FtgoCreateRestaurantSerializer,
        responses=schema.responses({200: s.FtgoRestaurantCreatedSerializer}, schema.WITH_BODY),
    )
    def post(self, request: Request) -> Response:
        return Response(reference.create_restaurant(validated(s.FtgoCreateRestaurantSerializer, request.data)))


class RestaurantView(FtgoView):
    @extend_schema(
        operation_id="ftgoGetRestaurant",
        tags=[TAG],
        parameters=[_id("restaurant_id", "restaurant")],
        responses=schema.responses({200: s.FtgoRestaurantSerializer}, (*schema.COMMON, 404)),
    )
    def get(self, request: Request, restaurant_id: str) -> Response:
        return Response(reference.get_restaurant(restaurant_id))


class OrdersView(FtgoView):
    """FTGO's API gateway: place an order, or list a consumer's orders (the order history service)."""

    @extend_schema(
        operation_id="ftgoCreateOrder",
        tags=[TAG],
        request=s.FtgoCreateOrderSerializer,
        parameters=[KEY],
        responses=schema.responses({200: s.FtgoOrderCreatedSerializer}, (*schema.WITH_BODY, 409, 410, 429)),
    )
    def post(self, request: Request) -> Response:
        return Response(orders.place_order(request.data, request.headers.get("Idempotency-Key")))

    @extend_schema(
        operation_id="ftgoListOrders",
        tags=[TAG],
        parameters=[OpenApiParameter("consumerId", int, OpenApiParameter.QUERY, required=True)],
        responses=schema.responses({200: s.FtgoOrderHistorySerializer}, (*schema.COMMON, 404)),
    )
    def get(self, request: Request) -> Response:
        return Response(orders.order_history(request.query_params.get("consumerId")))


class OrderView(FtgoView):
    @extend_schema(
        operation_id="ftgoGetOrder",
        tags=[TAG],
        parameters=[_id("order_id", "order")],
        responses=schema.responses({200: s.FtgoOrderSerializer}, (*schema.COMMON, 404, 410)),
    )
    def get(self, request: Request, order_id: str) -> Response:
        return Response(orders.get_order(order_id))


class CancelView(FtgoView):
    """Cancel: 200 with the order once TPFGo accepted the cancellation; 412 when it refused it."""

    @extend_schema(
        operation_id="ftgoCancelOrder",
        tags=[TAG],
        request=None,
        parameters=[_id("order_id", "order")],
        responses=schema.responses({200: s.FtgoOrderSerializer}, (*schema.WITH_BODY, 404, 410, 412)),
    )
    def post(self, request: Request, order_id: str) -> Response:
        return Response(orders.cancel_order(order_id, request.data))


class ReviseView(FtgoView):
    """Revise the line items: 200 with the revised order; 412 when TPFGo refused the revision (recorded)."""

    @extend_schema(
        operation_id="ftgoReviseOrder",
        tags=[TAG],
        request=s.FtgoReviseOrderSerializer,
        parameters=[_id("order_id", "order"), KEY],
        responses=schema.responses({200: s.FtgoOrderSerializer}, (*schema.WITH_BODY, 404, 409, 410, 412)),
    )
    def post(self, request: Request, order_id: str) -> Response:
        return Response(orders.revise_order(order_id, request.data, request.headers.get("Idempotency-Key")))


class AcceptTicketView(FtgoView):
    """FTGO's kitchen service: the restaurant accepts the ticket (its id is the order's id)."""

    @extend_schema(
        operation_id="ftgoAcceptTicket",
        tags=[TAG],
        request=s.FtgoTicketAcceptanceSerializer,
        parameters=[_id("ticket_id", "ticket (= order)")],
        responses=schema.responses({200: s.FtgoTicketAcceptedSerializer}, (*schema.WITH_BODY, 404, 410, 412)),
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        return Response(orders.accept_ticket(ticket_id, request.data))


class CourierAvailabilityView(FtgoView):
    """FTGO's delivery service: a courier's availability; the first call for an id creates the courier."""

    @extend_schema(
        operation_id="ftgoSetCourierAvailability",
        tags=[TAG],
        request=s.FtgoCourierAvailabilitySerializer,
        parameters=[_id("courier_id", "courier", OpenApiTypes.INT64)],
        responses=schema.responses({200: s.FtgoCourierSerializer}, (*schema.WITH_BODY, 404, 409)),
    )
    def post(self, request: Request, courier_id: str) -> Response:
        return Response(reference.set_courier_availability(courier_id, request.data))


class DeliveryView(FtgoView):
    """FTGO's delivery of an order (its id is the order's id), with the assigned courier's id."""

    @extend_schema(
        operation_id="ftgoGetDelivery",
        tags=[TAG],
        parameters=[_id("delivery_id", "delivery (= order)")],
        responses=schema.responses({200: s.FtgoDeliverySerializer}, (*schema.COMMON, 404, 410)),
    )
    def get(self, request: Request, delivery_id: str) -> Response:
        return Response(orders.get_delivery(delivery_id))
