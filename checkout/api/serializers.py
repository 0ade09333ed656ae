"""Serializers of the HTTP API: the OpenAPI shapes of the order routes, and the body checks of reference data.

The order serializers only describe (``checkout.commands`` validates an order, the same way for JSON and
protobuf); the reference-data serializers check a body's shape before ``checkout.reference`` writes it. None
holds logic beyond field types.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pipelines.status import STATUS

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MODES = ["auto", "manual"]
OUTCOMES = ["ACCEPTED", "REFUSED"]
REVISION_OUTCOMES = ["ACCEPTED", "REFUSED", "PENDING"]


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal(0), **kwargs)


def _nullable_text(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(allow_null=True, **kwargs)


# --- Errors -----------------------------------------------------------------------------------------------------
class ErrorDetailSerializer(serializers.Serializer):
    field = serializers.CharField()
    issue = serializers.CharField()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=sorted(STATUS))
    message = serializers.CharField()
    details = ErrorDetailSerializer(many=True)
    correlationId = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# --- Orders -----------------------------------------------------------------------------------------------------
class OrderItemSerializer(serializers.Serializer):
    menuItemId = serializers.CharField(max_length=300)
    quantity = serializers.IntegerField(min_value=1, max_value=99)


class AddressSerializer(serializers.Serializer):
    street1 = serializers.CharField(max_length=300)
    street2 = serializers.CharField(max_length=300, required=False)
    city = serializers.CharField(max_length=300)
    state = serializers.CharField(max_length=300)
    zip = serializers.CharField(max_length=300)


class CreateOrderSerializer(serializers.Serializer):
    consumerId = serializers.CharField(max_length=300)
    restaurantId = serializers.CharField(max_length=300)
    items = serializers.ListField(child=OrderItemSerializer(), min_length=1, max_length=100)
    deliveryAddress = AddressSerializer()
    deliveryTime = serializers.DateTimeField(required=False)
    paymentToken = serializers.CharField(max_length=300, required=False)


class StalledSerializer(serializers.Serializer):
    pipeline = serializers.CharField()
    step = serializers.CharField()
    errorClass = serializers.CharField()
    message = serializers.CharField()
    attempts = serializers.IntegerField()
    deadLettered = serializers.BooleanField()


class OrderLineSerializer(serializers.Serializer):
    menuItemId = serializers.CharField()
    name = _nullable_text()
    quantity = serializers.IntegerField()
    unitPrice = _nullable_text()
    lineTotal = _nullable_text()


class CheckpointSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()
    pipeline = serializers.CharField()
    createdAt = serializers.CharField()


class RevisionEntrySerializer(serializers.Serializer):
    revisionId = serializers.UUIDField()
    requestId = serializers.CharField()
    outcome = serializers.ChoiceField(choices=REVISION_OUTCOMES)
    reason = _nullable_text()
    orderTotal = serializers.CharField()
    lines = OrderLineSerializer(many=True)
    requestedAt = serializers.CharField()


class OrderViewSerializer(serializers.Serializer):
    orderId = serializers.UUIDField()
    requestId = serializers.CharField()
    state = serializers.CharField()
    reason = _nullable_text()
    failureCode = _nullable_text()
    outcome = _nullable_text()
    stalled = StalledSerializer(allow_null=True)
    consumerId = serializers.CharField()
    restaurantId = serializers.CharField()
    orderTotal = _nullable_text()
    currency = _nullable_text()
    lines = OrderLineSerializer(many=True)
    kitchenTicketId = _nullable_text()
    dispatchId = _nullable_text()
    courierId = _nullable_text()
    paymentId = _nullable_text()
    revisions = RevisionEntrySerializer(many=True)
    checkpoints = CheckpointSerializer(many=True)


class CancelRequestSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_null=True)


class CancellationSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    reason = serializers.ChoiceField(
        choices=["ALREADY_TERMINAL", "ALREADY_PREPARING", "REVISION_PENDING"], allow_null=True
    )


class CancelResponseSerializer(serializers.Serializer):
    cancellation = CancellationSerializer()
    order = OrderViewSerializer()


class ReviseOrderSerializer(serializers.Serializer):
    items = serializers.ListField(child=OrderItemSerializer(), min_length=1, max_length=100)


REVISION_REASONS = ["TOO_LATE", "ORDER_CANCELLED", "NOT_APPROVED", "REVISION_PENDING", "BELOW_MINIMUM"]


class RevisionSerializer(serializers.Serializer):
    revisionId = serializers.UUIDField()
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    reason = serializers.ChoiceField(choices=[*REVISION_REASONS, "PAYMENT_DECLINED"], allow_null=True)


class ReviseResponseSerializer(serializers.Serializer):
    revision = RevisionSerializer()
    order = OrderViewSerializer()


@extend_schema_field({"type": "array", "items": {"$ref": "#/components/schemas/LineageNode"}})
class LineageChildrenField(serializers.ListField):
    pass


class LineageNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    pipeline = serializers.CharField()
    step = serializers.CharField()
    createdAt = serializers.CharField()
    parentIds = serializers.ListField(child=serializers.CharField())
    children = LineageChildrenField()


class AcceptTicketSerializer(serializers.Serializer):
    readyBy = serializers.DateTimeField(required=False, allow_null=True)


class RejectTicketSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


# --- Reference data ---------------------------------------------------------------------------------------------
class ConsumerSerializer(serializers.Serializer):
    id = serializers.RegexField(ID_PATTERN)
    name = serializers.CharField(max_length=200)
    active = serializers.BooleanField(default=True)
    paymentToken = serializers.CharField(max_length=64, required=False, allow_blank=True)


class MenuItemSerializer(serializers.Serializer):
    id = serializers.RegexField(ID_PATTERN)
    name = serializers.CharField(max_length=200)
    price = _money()


class RestaurantSerializer(serializers.Serializer):
    id = serializers.RegexField(ID_PATTERN)
    name = serializers.CharField(max_length=200)
    address = serializers.CharField(max_length=300)
    currency = serializers.RegexField(r"^[A-Z]{3}$", default="USD")
    orderMinimum = _money(default=Decimal("0.00"))
    acceptanceMode = serializers.ChoiceField(choices=MODES, default="auto")
    menu = serializers.ListField(child=MenuItemSerializer(), max_length=500, default=list)


class CourierSerializer(serializers.Serializer):
    id = serializers.RegexField(ID_PATTERN)
    name = serializers.CharField(max_length=200)
    available = serializers.BooleanField(default=True)
    completionMode = serializers.ChoiceField(choices=MODES, default="auto")


class AvailabilitySerializer(serializers.Serializer):
    available = serializers.BooleanField()


class ConsumerListSerializer(serializers.Serializer):
    results = ConsumerSerializer(many=True)


class RestaurantListSerializer(serializers.Serializer):
    results = RestaurantSerializer(many=True)


class CourierListSerializer(serializers.Serializer):
    results = CourierSerializer(many=True)
