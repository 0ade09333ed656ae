"""Serializers of the HTTP API: each request serializer both validates a body and documents it in the schema.

The order's (``CreateOrderSerializer``) lives with the command it validates (``checkout.commands``, the same for
JSON, protobuf and gRPC); the reference-data serializers check a body before ``checkout.reference`` writes it.
None holds logic beyond field types.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checkout.commands import CreateOrderSerializer as CreateOrderSerializer  # the order body, documented
from checkout.commands import ReviseOrderSerializer as ReviseOrderSerializer  # the revision body, documented
from checkout.order_view import OrderViewSerializer as OrderViewSerializer  # the order view, rendered
from checkout.reference import ID_PATTERN
from pipelines import NOT_BLANK_PRINTABLE, STATUS, StrictSerializer, Text

MODES = ["auto", "manual"]
MONEY_PATTERN = r"^[0-9]{1,8}(\.[0-9]{0,2})?$"
OUTCOMES = ["ACCEPTED", "REFUSED"]


# --- Strict fields: what the schema says is what the server takes (no coercion from another JSON type) ----------
# Their issues are worded like the order's (checkout.commands), not in DRF's sentences ("Not a valid string.").
REQUIRED = "is required"
BOOLEAN = "must be true or false"
MONEY = "must be a string of digits with up to two decimals"
TIME = "must be an ISO-8601 time with a zone"


def text(max_length: int, **kwargs: Any) -> Text:
    """A ``Text`` of at most ``max_length`` characters whose issues read like the order's."""
    issue = f"must be a string of at most {max_length} characters"
    required = REQUIRED if kwargs.get("required", True) else issue
    messages = {"required": REQUIRED, "blank": REQUIRED, "min_length": REQUIRED, "null": required}
    messages.update(invalid=issue, max_length=issue)
    return Text(max_length=max_length, error_messages=messages, **kwargs)


def choice(choices: list[str], **kwargs: Any) -> serializers.ChoiceField:
    issue = "must be one of " + ", ".join(choices)
    messages: dict[str, Any] = {"required": REQUIRED, "null": issue, "invalid_choice": issue}
    return serializers.ChoiceField(choices=choices, error_messages=messages, **kwargs)


class Pattern(Text):
    """A ``Text`` matching ``pattern`` (documented as the schema's ``pattern``, from its validator)."""

    schema_pattern = None
    default_error_messages = {"required": REQUIRED, "blank": REQUIRED, "min_length": REQUIRED, "null": REQUIRED}

    def __init__(self, pattern: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # DRF formats a message with the field's arguments: the pattern's braces are its own.
        self.error_messages["invalid"] = "must be a string matching " + pattern.replace("{", "{{").replace("}", "}}")
        self.validators.append(RegexValidator(pattern, message="does not match " + pattern))


class Boolean(serializers.BooleanField):
    """JSON ``true`` or ``false`` only (not ``0``, ``"yes"`` or ``"true"``)."""

    default_error_messages = {"required": REQUIRED, "null": BOOLEAN, "invalid": BOOLEAN}

    def to_internal_value(self, data: object) -> bool:
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)
        raise AssertionError("unreachable")


class Money(serializers.DecimalField):
    """A non-negative amount as a JSON string of digits with up to two decimals (``"12.50"``)."""

    schema_pattern = MONEY_PATTERN
    default_error_messages = {
        "required": REQUIRED,
        **dict.fromkeys(("null", "invalid", "max_digits", "max_decimal_places", "max_whole_digits"), MONEY),
        **dict.fromkeys(("min_value", "max_value", "max_string_length"), MONEY),
    }

    def to_internal_value(self, data: object) -> Decimal:
        if not isinstance(data, str) or not re.fullmatch(MONEY_PATTERN, data):
            self.fail("invalid")
        return Decimal(super().to_internal_value(data))


def validated(serializer_class: type[serializers.Serializer[Any]], data: object) -> dict[str, Any]:
    """The body validated by ``serializer_class``, or a ``ValidationError`` (INVALID_ARGUMENT, field by field)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _money(**kwargs: Any) -> Money:
    return Money(max_digits=10, decimal_places=2, min_value=Decimal(0), **kwargs)


# --- Errors -----------------------------------------------------------------------------------------------------
class ErrorDetailSerializer(serializers.Serializer[dict[str, Any]]):
    field = serializers.CharField()
    issue = serializers.CharField()


class ErrorBodySerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.ChoiceField(choices=sorted(STATUS))
    message = serializers.CharField()
    details = ErrorDetailSerializer(many=True)
    correlationId = serializers.CharField()


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    error = ErrorBodySerializer()


# --- Orders -----------------------------------------------------------------------------------------------------
class CancelRequestSerializer(StrictSerializer):
    note = text(500, required=False, allow_null=True, allow_blank=True)


class CancellationSerializer(serializers.Serializer[dict[str, Any]]):
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    reason = serializers.ChoiceField(choices=["ALREADY_TERMINAL", "ALREADY_PREPARING"], allow_null=True)


class CancelResponseSerializer(serializers.Serializer[dict[str, Any]]):
    cancellation = CancellationSerializer()
    order = OrderViewSerializer()


REVISION_REASONS = ["TOO_LATE", "ORDER_CANCELLED", "NOT_APPROVED", "REVISION_PENDING", "BELOW_MINIMUM"]


class RevisionSerializer(serializers.Serializer[dict[str, Any]]):
    revisionId = serializers.UUIDField()
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    reason = serializers.ChoiceField(choices=[*REVISION_REASONS, "PAYMENT_DECLINED"], allow_null=True)


class ReviseResponseSerializer(serializers.Serializer[dict[str, Any]]):
    revision = RevisionSerializer()
    order = OrderViewSerializer()


@extend_schema_field({"type": "array", "items": {"$ref": "#/components/schemas/LineageNode"}})
class LineageChildrenField(serializers.ListField):
    pass


class LineageNodeSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField()
    type = serializers.CharField()
    pipeline = serializers.CharField()
    step = serializers.CharField()
    createdAt = serializers.CharField()
    parentIds = serializers.ListField(child=serializers.CharField())
    children = LineageChildrenField()


class AcceptTicketSerializer(StrictSerializer):
    readyBy = serializers.DateTimeField(
        required=False,
        allow_null=True,
        error_messages=dict.fromkeys(("invalid", "date", "make_aware", "overflow"), TIME),
    )


class NoBodySerializer(StrictSerializer):
    """A route that takes no body (pickup, drop-off): an absent body or ``{}``; any field is unknown."""


class RejectTicketSerializer(StrictSerializer):
    reason = text(300, schema_pattern=NOT_BLANK_PRINTABLE)  # the service refuses spaces only


# --- Reference data ---------------------------------------------------------------------------------------------
class ConsumerSerializer(StrictSerializer):
    id = Pattern(ID_PATTERN)
    name = text(200)
    active = Boolean(default=True)
    paymentToken = text(64, required=False, allow_blank=True)


class MenuItemSerializer(StrictSerializer):
    id = Pattern(ID_PATTERN)
    name = text(200)
    price = _money()


class RestaurantSerializer(StrictSerializer):
    id = Pattern(ID_PATTERN)
    name = text(200)
    address = text(300)
    currency = Pattern(r"^[A-Z]{3}$", default="USD")
    orderMinimum = _money(default=Decimal("0.00"))
    acceptanceMode = choice(MODES, default="auto")
    menu = serializers.ListField(
        child=MenuItemSerializer(),
        max_length=500,
        default=list,
        error_messages={"null": "must be a list", "not_a_list": "must be a list", "max_length": "at most 500 items"},
    )


class CourierSerializer(StrictSerializer):
    id = Pattern(ID_PATTERN)
    name = text(200)
    available = Boolean(default=True)
    completionMode = choice(MODES, default="auto")


class AvailabilitySerializer(StrictSerializer):
    available = Boolean()


class ConsumerListSerializer(serializers.Serializer[dict[str, Any]]):
    results = ConsumerSerializer(many=True)


class RestaurantListSerializer(serializers.Serializer[dict[str, Any]]):
    results = RestaurantSerializer(many=True)


class CourierListSerializer(serializers.Serializer[dict[str, Any]]):
    results = CourierSerializer(many=True)
