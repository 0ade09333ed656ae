"""FTGO's bodies as OpenAPI shapes; the consumer and restaurant ones also check a body's shape.

An order, a revision and a ticket acceptance are only described here: ``checkout.commands`` and the services
validate them, as for ``/api/v1/``. Names and nesting follow FTGO's DTOs (``PersonName``, ``Address``,
``RestaurantMenu``, ``lineItems``, ``revisedOrderLineItems``). A ``JacksonText``, ``JacksonInt`` or ``JacksonBool``
field says (and a ``JacksonText`` reads) the scalars FTGO's services take through Jackson's coercions
(``ftgo.jackson``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from checkout.commands import AddressSerializer
from ftgo import jackson, states
from pipelines import StrictSerializer, Text

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.utils import Direction

# TPFGo keeps one name of at most 200 characters: the first name, a space and the last name.
NAME = 99
# The text Jackson 2.9 reads as a boolean, after Java's trim.
BOOLEAN_TEXT = "^[\\u0000-\\u0020]*(true|True|false|False)[\\u0000-\\u0020]*$"
# Integer.parseInt's text after Java's trim (digits of other scripts too, which a schema pattern cannot say).
WHOLE_NUMBER_TEXT = "^[\\u0000-\\u0020]*[+-]?[0-9]+[\\u0000-\\u0020]*$"


class JacksonText(Text):
    """Text where FTGO's DTO has a ``String``: a JSON integer or ``true``/``false`` is read as its text, as Jackson
    reads it; then TPFGo's text rules apply (no control characters, a longest length)."""

    def to_internal_value(self, data: object) -> str:
        return super().to_internal_value(jackson.text(data))


class JacksonInt(serializers.IntegerField):
    """An ``int`` or ``long`` of FTGO's DTO, as Jackson reads it (``jackson.integer``: the adapter reads it so)."""


class JacksonBool(serializers.BooleanField):
    """A ``boolean`` of FTGO's DTO, as Jackson reads it (``jackson.boolean``: the adapter reads it so)."""


class JacksonBoolExtension(OpenApiSerializerFieldExtension):
    target_class = JacksonBool

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Direction) -> Any:
        if direction == "response":
            return {"type": "boolean"}
        number = {"type": "integer", "description": "0 is false, any other number true"}
        text = {"type": "string", "pattern": BOOLEAN_TEXT, "description": "after Java's trim"}
        return {"anyOf": [{"type": "boolean"}, number, text]}


class JacksonTextExtension(OpenApiSerializerFieldExtension):
    target_class = JacksonText
    match_subclasses = True

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Direction) -> Any:
        text = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        text.pop("description", None)
        auto_schema._insert_field_validators(self.target, text)  # its length: on the text, not the numbers
        if direction == "response":  # what this surface answers is text
            return text
        return {"anyOf": [text, {"type": "integer", "description": "read as its digits"}, {"type": "boolean"}]}


class JacksonIntExtension(OpenApiSerializerFieldExtension):
    target_class = JacksonInt

    def map_serializer_field(self, auto_schema: AutoSchema, direction: Direction) -> Any:
        whole = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        whole.pop("description", None)
        fraction: dict[str, Any] = {"type": "number", "description": "truncated toward zero"}
        if "minimum" in whole:
            fraction |= {"minimum": whole["minimum"] - 1, "exclusiveMinimum": True}
        if "maximum" in whole:
            fraction |= {"maximum": whole["maximum"] + 1, "exclusiveMaximum": True}
        text = {"type": "string", "pattern": WHOLE_NUMBER_TEXT, "description": "a whole number, as Java's parseInt"}
        return {"anyOf": [whole, fraction, text]}


class FtgoPersonNameSerializer(StrictSerializer):
    """FTGO's ``PersonName``: each part is checked as TPFGo checks the one name it keeps, so a refusal names the
    part (a control character was refused under ``name``, a field the client never sent)."""

    firstName = JacksonText(max_length=NAME)
    lastName = JacksonText(max_length=NAME)


class FtgoCreateConsumerSerializer(StrictSerializer):
    name = FtgoPersonNameSerializer()


class FtgoConsumerCreatedSerializer(serializers.Serializer[dict[str, Any]]):
    consumerId = serializers.IntegerField()


class FtgoConsumerSerializer(serializers.Serializer[dict[str, Any]]):
    consumerId = serializers.IntegerField()
    name = FtgoPersonNameSerializer()


class FtgoAccountSerializer(serializers.Serializer[dict[str, Any]]):
    accountId = serializers.CharField(
        help_text="the consumer's number as text, as FTGO's accounting service answers it"
    )


def _address_part(longest: int = settings.TPFGO_API_MAX_TEXT_LENGTH, required: bool = True) -> JacksonText:
    return JacksonText(max_length=longest, required=required, allow_null=not required, allow_blank=not required)


class FtgoAddressSerializer(AddressSerializer):
    """TPFGo's address, where FTGO may send ``street2: null``, and numbers as Jackson reads them into text."""

    street1 = _address_part()
    street2 = _address_part(required=False)
    city = _address_part()
    state = _address_part()
    zip = _address_part()


class FtgoRestaurantAddressSerializer(FtgoAddressSerializer):
    """A restaurant's address: TPFGo keeps it as one text of at most 300 characters (``street1, street2, city,
    state zip``), so each part is bounded for the whole to fit."""

    street1 = _address_part(100)
    street2 = _address_part(100, required=False)
    city = _address_part(60)
    state = _address_part(20)
    zip = _address_part(12)


class FtgoMenuItemSerializer(StrictSerializer):
    id = JacksonText(max_length=64)
    name = JacksonText(max_length=200)
    price = serializers.CharField(max_length=20, help_text="FTGO's Money: a decimal amount as text, e.g. 12.34")


class FtgoMenuSerializer(StrictSerializer):
    menuItems = FtgoMenuItemSerializer(many=True)


class FtgoCreateRestaurantSerializer(StrictSerializer):
    name = JacksonText(max_length=200)
    address = FtgoRestaurantAddressSerializer()
    menu = FtgoMenuSerializer()


class FtgoRestaurantCreatedSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()


class FtgoRestaurantSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField(help_text="the restaurant service's field")
    restaurantId = serializers.IntegerField(help_text="the kitchen service's field (the same number)")
    name = serializers.CharField()
    menu = FtgoMenuSerializer()


class FtgoLineItemSerializer(StrictSerializer):
    menuItemId = JacksonText(max_length=settings.TPFGO_API_MAX_TEXT_LENGTH)
    quantity = JacksonInt(min_value=1, max_value=99)


class FtgoCreateOrderSerializer(StrictSerializer):
    consumerId = JacksonInt(min_value=1)
    restaurantId = JacksonInt(min_value=1)
    deliveryAddress = FtgoAddressSerializer()
    deliveryTime = serializers.JSONField(
        required=False,
        help_text="Java's LocalDateTime as FTGO sends it: ISO-8601 text (a time without a zone is UTC) or "
        "Jackson's array [year, month, day, hour, minute, second?, nanosecond?]",
    )
    lineItems = FtgoLineItemSerializer(many=True)


class FtgoOrderCreatedSerializer(serializers.Serializer[dict[str, Any]]):
    orderId = serializers.IntegerField()


class FtgoOrderInfoSerializer(serializers.Serializer[dict[str, Any]]):
    orderId = serializers.CharField()
    state = serializers.ChoiceField(choices=states.FTGO_STATES)


class FtgoOrderLineSerializer(serializers.Serializer[dict[str, Any]]):
    menuItemId = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    quantity = serializers.IntegerField()
    price = serializers.CharField(allow_null=True)


class FtgoTpfgoOrderSerializer(serializers.Serializer[dict[str, Any]]):
    orderId = serializers.UUIDField()
    state = serializers.CharField(help_text="TPFGo's derived state (docs/ftgo.md maps it)")


class FtgoOrderSerializer(serializers.Serializer[dict[str, Any]]):
    orderId = serializers.IntegerField()
    state = serializers.ChoiceField(choices=states.FTGO_STATES)
    orderTotal = serializers.CharField(allow_null=True, help_text="FTGO's Money: e.g. 123.40")
    orderInfo = FtgoOrderInfoSerializer(help_text="the API gateway's shape")
    consumerId = serializers.IntegerField()
    restaurantId = serializers.IntegerField()
    lineItems = FtgoOrderLineSerializer(many=True)
    tpfgo = FtgoTpfgoOrderSerializer()


class FtgoOrderSummarySerializer(serializers.Serializer[dict[str, Any]]):
    orderId = serializers.CharField(help_text="text, as FTGO's order history answers it")
    status = serializers.ChoiceField(choices=states.FTGO_STATES)
    restaurantId = serializers.IntegerField()
    restaurantName = serializers.CharField()
    orderTotal = serializers.CharField(allow_null=True)


class FtgoOrderHistorySerializer(serializers.Serializer[dict[str, Any]]):
    orders = FtgoOrderSummarySerializer(many=True)
    startKey = serializers.CharField(
        allow_null=True, help_text="FTGO's next page's key: always null, the newest orders are one page"
    )


class FtgoRevisedLineItemSerializer(StrictSerializer):
    menuItemId = JacksonText(max_length=settings.TPFGO_API_MAX_TEXT_LENGTH)
    quantity = JacksonInt(min_value=0, max_value=99, help_text="0 takes the item off the order")


class FtgoReviseOrderSerializer(StrictSerializer):
    revisedOrderLineItems = FtgoRevisedLineItemSerializer(many=True)


class FtgoTicketAcceptanceSerializer(StrictSerializer):
    readyBy = serializers.JSONField(required=False, help_text="a LocalDateTime, as deliveryTime")


class FtgoTicketAcceptedSerializer(serializers.Serializer[dict[str, Any]]):
    ticketId = serializers.IntegerField(help_text="FTGO's ticket id: the order's id")


class FtgoCourierAvailabilitySerializer(StrictSerializer):
    available = JacksonBool()


class FtgoCourierSerializer(serializers.Serializer[dict[str, Any]]):
    courierId = serializers.IntegerField(min_value=1, max_value=jackson.LONG, help_text="FTGO's long: the client's")
    available = serializers.BooleanField()


class FtgoDeliveryInfoSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["PENDING", "SCHEDULED", "CANCELLED"])


class FtgoCourierActionSerializer(serializers.Serializer[dict[str, Any]]):
    type = serializers.ChoiceField(choices=["PICKUP", "DROPOFF"])


class FtgoDeliverySerializer(serializers.Serializer[dict[str, Any]]):
    deliveryInfo = FtgoDeliveryInfoSerializer()
    assignedCourier = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        max_value=jackson.LONG,
        help_text="FTGO's Long: a courier TPFGo made is numbered past a Java int (docs/ftgo.md)",
    )
    courierActions = FtgoCourierActionSerializer(many=True)
