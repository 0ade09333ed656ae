"""The order, ticket and delivery routes: parse the request, call one ``checkout.services`` function, render.

The order routes also speak protobuf-over-HTTP (``tpfgo.checkout.v1`` messages); the body rules that are
only about the wire (a JSON object, no unknown field, the key given twice) live here, every other rule in the
service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from checkout import messages, services
from checkout.api import schema
from checkout.api import serializers as s
from checkout.api.base import ApiView, ProtobufApiView
from checkout.api.protobuf import ProtoData, ProtoSpec
from checkout.protos import orders_pb2


def json_object(data: Any, serializer_class: type[Serializer[Any]]) -> Mapping[str, Any]:
    """A JSON body validated by the serializer that documents it (an absent body is an empty object), returned as
    sent: the service reads its fields."""
    body = {} if data is None else data
    s.validated(serializer_class, body)
    return body


def key_name(field_key: str | None, header_key: str | None) -> str:
    """The key as the client sent it: the header ``Idempotency-Key``, or a protobuf body's field ``idempotency_key``."""
    return messages.key_name(field_key, header_key, field="idempotency_key", header=messages.KEY_HEADER)


ORDER = OpenApiResponse(s.OrderViewSerializer, description="the order view")


class OrdersView(ProtobufApiView):
    """Place an order: 201 once stored; a replay of the same key and request 200 with `Idempotent-Replayed: true`;
    the same key with another request 409."""

    protobuf = {"POST": ProtoSpec(orders_pb2.CreateOrderRequest, orders_pb2.Order)}

    @extend_schema(
        operation_id="createOrder",
        tags=["orders"],
        summary="Place an order (idempotent by Idempotency-Key)",
        request=schema.request(s.CreateOrderSerializer, protobuf=True),
        parameters=[schema.IDEMPOTENCY_KEY, schema.REPLAYED],
        responses=schema.responses(
            {
                201: ORDER,
                200: OpenApiResponse(s.OrderViewSerializer, description="a replay of the same key and request"),
            },
            (*schema.WITH_BODY, 409, 410, 429),
            protobuf=True,
        ),
    )
    def post(self, request: Request) -> Response:
        data, field_key = request.data, None
        if isinstance(data, ProtoData):
            data, field_key = messages.create_command(data.message)
        header_key = request.headers.get("Idempotency-Key")
        key = messages.pick_key(field_key, header_key, header="Idempotency-Key")
        with messages.naming_key(key_name(field_key, header_key)):
            placed = services.place_order(data, key)
        headers = {"Location": f"/api/v1/orders/{placed.view['orderId']}"}
        if not placed.created:
            headers["Idempotent-Replayed"] = "true"
        return Response(placed.view, status=201 if placed.created else 200, headers=headers)


class OrderView(ProtobufApiView):
    """The order view: derived state, lines, ids and the checkpoints reached."""

    protobuf = {"GET": ProtoSpec(None, orders_pb2.Order)}

    @extend_schema(
        operation_id="getOrder",
        tags=["orders"],
        parameters=[schema.path_id("order_id", "order")],
        responses=schema.responses({200: ORDER}, (*schema.COMMON, 404, 410), protobuf=True),
    )
    def get(self, request: Request, order_id: str) -> Response:
        return Response(services.get_order(order_id))


class LineageView(ProtobufApiView):
    """The order's checkpoints as a tree; a merged checkpoint is nested under its first sorted parent."""

    protobuf = {"GET": ProtoSpec(None, orders_pb2.LineageNode)}

    @extend_schema(
        operation_id="getOrderLineage",
        tags=["orders"],
        parameters=[schema.path_id("order_id", "order")],
        responses=schema.responses({200: s.LineageNodeSerializer}, (*schema.COMMON, 404, 410), protobuf=True),
    )
    def get(self, request: Request, order_id: str) -> Response:
        return Response(services.lineage(order_id))


class CancelView(ProtobufApiView):
    """Ask to cancel: the decision (ACCEPTED, or REFUSED with a reason) and the order; a repeat replays the decision."""

    protobuf = {"POST": ProtoSpec(orders_pb2.CancelOrderRequest, orders_pb2.CancelOrderResponse)}

    @extend_schema(
        operation_id="cancelOrder",
        tags=["orders"],
        request=schema.request(s.CancelRequestSerializer, protobuf=True),
        parameters=[schema.path_id("order_id", "order")],
        responses=schema.responses({200: s.CancelResponseSerializer}, (*schema.WITH_BODY, 404, 410), protobuf=True),
    )
    def post(self, request: Request, order_id: str) -> Response:
        if isinstance(request.data, ProtoData):
            message = request.data.message
            messages.same_order_id(order_id, message.order_id)
            note = message.note if message.HasField("note") else None
        else:
            note = json_object(request.data, s.CancelRequestSerializer).get("note")
        return Response(services.cancel_order(order_id, note))


class ReviseView(ProtobufApiView):
    """Revise the order's line items (the full new list): the decision (ACCEPTED, or REFUSED with a reason) and the
    order; a replay of the same key and request answers the same; the same key with another request 412."""

    protobuf = {"POST": ProtoSpec(orders_pb2.ReviseOrderRequest, orders_pb2.ReviseOrderResponse)}

    @extend_schema(
        operation_id="reviseOrder",
        tags=["orders"],
        summary="Revise an order's line items (idempotent by Idempotency-Key)",
        request=schema.request(s.ReviseOrderSerializer, protobuf=True),
        parameters=[schema.path_id("order_id", "order"), schema.IDEMPOTENCY_KEY],
        responses=schema.responses(
            {200: s.ReviseResponseSerializer}, (*schema.WITH_BODY, 404, 410, 412), protobuf=True
        ),
    )
    def post(self, request: Request, order_id: str) -> Response:
        data, field_key = request.data, None
        if isinstance(data, ProtoData):
            messages.same_order_id(order_id, data.message.order_id)
            data, field_key = messages.revise_command(data.message)
        header_key = request.headers.get("Idempotency-Key")
        key = messages.pick_key(field_key, header_key, header="Idempotency-Key")
        with messages.naming_key(key_name(field_key, header_key)):
            return Response(services.revise_order(order_id, data, key))


class AcceptTicketView(ApiView):
    """The restaurant accepts a kitchen ticket (manual acceptance); the chain resumes."""

    @extend_schema(
        operation_id="acceptTicket",
        tags=["tickets"],
        request=s.AcceptTicketSerializer,
        parameters=[schema.path_id("ticket_id", "kitchen ticket")],
        responses=schema.responses({200: ORDER}, (*schema.WITH_BODY, 404, 412)),
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        body = json_object(request.data, s.AcceptTicketSerializer)
        return Response(services.accept_ticket(ticket_id, body.get("readyBy")))


class RejectTicketView(ApiView):
    """The restaurant rejects a kitchen ticket with a reason."""

    @extend_schema(
        operation_id="rejectTicket",
        tags=["tickets"],
        request=s.RejectTicketSerializer,
        parameters=[schema.path_id("ticket_id", "kitchen ticket")],
        responses=schema.responses({200: ORDER}, (*schema.WITH_BODY, 404, 412)),
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        body = json_object(request.data, s.RejectTicketSerializer)
        return Response(services.reject_ticket(ticket_id, body.get("reason")))


class PickupView(ApiView):
    """The courier confirms pickup (manual completion)."""

    @extend_schema(
        operation_id="pickupDelivery",
        tags=["deliveries"],
        request=None,
        parameters=[schema.path_id("dispatch_id", "dispatch")],
        responses=schema.responses({200: ORDER}, (*schema.WITH_BODY, 404, 412)),
    )
    def post(self, request: Request, dispatch_id: str) -> Response:
        json_object(request.data, s.NoBodySerializer)  # no body, or {}: a field is refused, nothing done
        return Response(services.pickup(dispatch_id))


class DropoffView(ApiView):
    """The courier confirms drop-off (manual completion)."""

    @extend_schema(
        operation_id="dropoffDelivery",
        tags=["deliveries"],
        request=None,
        parameters=[schema.path_id("dispatch_id", "dispatch")],
        responses=schema.responses({200: ORDER}, (*schema.WITH_BODY, 404, 412)),
    )
    def post(self, request: Request, dispatch_id: str) -> Response:
        json_object(request.data, s.NoBodySerializer)  # no body, or {}: a field is refused, nothing done
        return Response(services.dropoff(dispatch_id))
