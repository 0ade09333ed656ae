"""``tpfgo.checkout.v1.OrderService``: parse the message, call one ``checkout.services`` function, render.

The boundary (token first, malformed bytes, errors as ``google.rpc.Status``, metrics) is
``pipelines.transport.rpc.unary``.
A replay of ``CreateOrder`` is signalled by the trailing metadata ``idempotent-replayed: true``.
"""

from __future__ import annotations

from typing import Any

import grpc
from django_grpc_framework.services import Service

from checkout import messages, services
from checkout.protos import orders_pb2
from pipelines import metadata_value, unary

SERVICE = orders_pb2.DESCRIPTOR.services_by_name["OrderService"]
ROUTE = f"/{SERVICE.full_name}/"


def key_name(field_key: str | None, header_key: str | None) -> str:
    """The key as the client sent it: the field ``idempotency_key`` or the metadata ``idempotency-key``."""
    return messages.key_name(field_key, header_key, field="idempotency_key", header="idempotency-key")


class OrderService(Service):
    @unary(ROUTE + "CreateOrder")
    def CreateOrder(self, request: orders_pb2.CreateOrderRequest, context: grpc.ServicerContext) -> Any:
        data, field_key = messages.create_command(request)
        header_key = metadata_value(context, "idempotency-key")
        key = messages.pick_key(field_key, header_key, header="idempotency-key")
        with messages.naming_key(key_name(field_key, header_key)):
            placed = services.place_order(data, key)
        if not placed.created:
            context.set_trailing_metadata((("idempotent-replayed", "true"),))
        return messages.to_message(placed.view, orders_pb2.Order)

    @unary(ROUTE + "GetOrder")
    def GetOrder(self, request: orders_pb2.GetOrderRequest, context: grpc.ServicerContext) -> Any:
        return messages.to_message(services.get_order(request.order_id), orders_pb2.Order)

    @unary(ROUTE + "CancelOrder")
    def CancelOrder(self, request: orders_pb2.CancelOrderRequest, context: grpc.ServicerContext) -> Any:
        note = request.note if request.HasField("note") else None
        return messages.to_message(services.cancel_order(request.order_id, note), orders_pb2.CancelOrderResponse)

    @unary(ROUTE + "ReviseOrder")
    def ReviseOrder(self, request: orders_pb2.ReviseOrderRequest, context: grpc.ServicerContext) -> Any:
        data, field_key = messages.revise_command(request)
        header_key = metadata_value(context, "idempotency-key")
        key = messages.pick_key(field_key, header_key, header="idempotency-key")
        with messages.naming_key(key_name(field_key, header_key)):
            revised = services.revise_order(request.order_id, data, key)
        return messages.to_message(revised, orders_pb2.ReviseOrderResponse)

    @unary(ROUTE + "GetLineage")
    def GetLineage(self, request: orders_pb2.GetLineageRequest, context: grpc.ServicerContext) -> Any:
        return messages.to_message(services.lineage(request.order_id), orders_pb2.LineageNode)
