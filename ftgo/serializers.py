"""FTGO's bodies as OpenAPI shapes; the consumer and restaurant ones also check a body's shape.

An order, a revision and a ticket acceptance are only described here: ``checkout.commands`` and the services
validate them, as for ``/api/v1/``. Names and nesting follow FTGO's DTOs (``PersonName``, ``Address``,
``RestaurantMenu``, ``lineItems``, ``revisedOrderLineItems``).
"""

from __future__ import annotations

from rest_framework import serializers

from ftgo import states

NAME = 100


class PersonNameSerializer(serializers.Serializer):
    firstName = serializers.CharField(max_length=NAME)
    lastName = serializers.CharField(max_length=NAME)


class CreateConsumerSerializer(serializers.Serializer):
    name = PersonNameSerializer()


class ConsumerCreatedSerializer(serializers.Serializer):
    consumerId = serializers.IntegerField()


class ConsumerSerializer(serializers.Serializer):
    consumerId = serializers.IntegerField()
    name = PersonNameSerializer()


class AccountSerializer(serializers.Serializer):
    accountId = serializers.IntegerField()


class AddressSerializer(serializers.Serializer):
    street1 = serializers.CharField(max_length=100)
    street2 = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    city = serializers.CharField(max_length=60)
    state = serializers.CharField(max_length=30)
    zip = serializers.CharField(max_length=20)


class MenuItemSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    price = serializers.CharField(max_length=20, help_text="FTGO's Money: a decimal amount as text, e.g. 12.34")


class MenuSerializer(serializers.Serializer):
    menuItems = MenuItemSerializer(many=True)


class CreateRestaurantSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    address = AddressSerializer()
    menu = MenuSerializer()


class RestaurantCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()


class RestaurantSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the restaurant service's field")
    restaurantId = serializers.IntegerField(help_text="the kitchen service's field (the same number)")
    name = serializers.CharField()
    menu = MenuSerializer()


class LineItemSerializer(serializers.Serializer):
    menuItemId = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1, max_value=99)


class CreateOrderSerializer(serializers.Serializer):
    consumerId = serializers.IntegerField()
    restaurantId = serializers.IntegerField()
    deliveryAddress = AddressSerializer()
    deliveryTime = serializers.JSONField(
        required=False,
        help_text="Java's LocalDateTime as FTGO sends it: ISO-8601 text (a time without a zone is UTC) or "
        "Jackson's array [year, month, day, hour, minute, second?, nanosecond?]",
    )
    lineItems = LineItemSerializer(many=True)


class OrderCreatedSerializer(serializers.Serializer):
    orderId = serializers.IntegerField()


class OrderInfoSerializer(serializers.Serializer):
    orderId = serializers.CharField()
    state = serializers.ChoiceField(choices=states.FTGO_STATES)


class OrderLineSerializer(serializers.Serializer):
    menuItemId = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    quantity = serializers.IntegerField()
    price = serializers.CharField(allow_null=True)


class TpfgoOrderSerializer(serializers.Serializer):
    orderId = serializers.UUIDField()
    state = serializers.CharField(help_text="TPFGo's derived state (docs/ftgo.md maps it)")


class OrderSerializer(serializers.Serializer):
    orderId = serializers.IntegerField()
    state = serializers.ChoiceField(choices=states.FTGO_STATES)
    orderTotal = serializers.CharField(allow_null=True, help_text="FTGO's Money: e.g. 123.40")
    orderInfo = OrderInfoSerializer(help_text="the API gateway's shape")
    consumerId = serializers.IntegerField()
    restaurantId = serializers.IntegerField()
    lineItems = OrderLineSerializer(many=True)
    tpfgo = TpfgoOrderSerializer()


class OrderSummarySerializer(serializers.Serializer):
    orderId = serializers.CharField(help_text="text, as FTGO's order history answers it")
    status = serializers.ChoiceField(choices=states.FTGO_STATES)
    restaurantId = serializers.IntegerField()
    restaurantName = serializers.CharField()
    orderTotal = serializers.CharField(allow_null=True)


class OrderHistorySerializer(serializers.Serializer):
    orders = OrderSummarySerializer(many=True)


class ReviseOrderSerializer(serializers.Serializer):
    revisedOrderLineItems = LineItemSerializer(many=True)


class TicketAcceptanceSerializer(serializers.Serializer):
    readyBy = serializers.JSONField(required=False, help_text="a LocalDateTime, as deliveryTime")


class TicketAcceptedSerializer(serializers.Serializer):
    ticketId = serializers.IntegerField(help_text="FTGO's ticket id: the order's id")


class CourierAvailabilitySerializer(serializers.Serializer):
    available = serializers.BooleanField()


class CourierSerializer(serializers.Serializer):
    courierId = serializers.IntegerField()
    available = serializers.BooleanField()


class DeliveryInfoSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["PENDING", "SCHEDULED", "CANCELLED"])


class CourierActionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["PICKUP", "DROPOFF"])


class DeliverySerializer(serializers.Serializer):
    deliveryInfo = DeliveryInfoSerializer()
    assignedCourier = serializers.IntegerField(allow_null=True)
    courierActions = CourierActionSerializer(many=True)
