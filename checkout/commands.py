"""Validation and canonical form of the place-order and revise-order commands, the same for JSON and protobuf.

``CreateOrderSerializer`` validates every transport's request and is the OpenAPI schema of the order body: one
class, so the schema and the server cannot disagree on a field.

"Same request" means the same canonical command: the request's own fields only (an absent optional field
stays absent, an empty string counts as absent), normalized (field order, decimal and time forms).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checkout import personal, selectors
from checkout.models import Consumer, MenuItem
from checkout.order_request.models import OrderRequest
from pipelines import Detail, InvalidArgument, StrictSerializer, Text, flatten, ids, input_limits

KEY_PATTERN = ids.KEY_PATTERN
check_key = ids.check_key
MAX_LINES = 100
_per_thread = threading.local()


REQUIRED = "is required"
TEXT = f"must be a string of at most {settings.TPFGO_API_MAX_TEXT_LENGTH} characters"


def _text(*, required: bool = True) -> Text:
    messages = {"required": REQUIRED, "blank": REQUIRED, "null": REQUIRED if required else TEXT}
    messages.update(invalid=TEXT, max_length=TEXT)
    limit = settings.TPFGO_API_MAX_TEXT_LENGTH
    return Text(max_length=limit, required=required, allow_blank=not required, error_messages=messages)


def _optional_text() -> Text:
    """An optional text field: an empty string counts as absent (a protobuf client cannot send "unset")."""
    return _text(required=False)


class Quantity(serializers.IntegerField):
    """A JSON integer (not ``true``, ``2.0`` or ``"2"``) from 1 to 99."""

    ISSUE = "must be an integer from 1 to 99"

    def __init__(self) -> None:
        keys = ("required", "null", "invalid", "min_value", "max_value")
        super().__init__(min_value=1, max_value=99, error_messages=dict.fromkeys(keys, self.ISSUE))

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


@extend_schema_field({"type": "string", "format": "date-time"})
class ZonedTime(serializers.CharField):
    """An ISO-8601 time with a zone, kept as its canonical UTC form (``2026-01-02T03:04:05Z``)."""

    ISSUE = "must be an ISO-8601 time with a zone"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            allow_blank=True,
            trim_whitespace=False,
            error_messages={"invalid": self.ISSUE, "null": self.ISSUE},
            **kwargs,
        )

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if data == "":
            return ""
        parsed = input_limits.parse_time(data)  # None: malformed, impossible, or outside years 1-9999 in UTC
        utc = parsed.astimezone(datetime.UTC) if parsed is not None and parsed.tzinfo is not None else None
        if utc is None:
            self.fail("invalid")
        # Four-digit years always (strftime's %Y drops the padding before year 1000).
        return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


class OrderItemSerializer(StrictSerializer):
    default_error_messages = {"invalid": "must be an object"}

    menuItemId = _text()
    quantity = Quantity()


class AddressSerializer(StrictSerializer):
    default_error_messages = {"invalid": "must be an object"}

    street1 = _text()
    street2 = _optional_text()
    city = _text()
    state = _text()
    zip = _text()


def _item_list() -> serializers.ListField:
    """An order's (or a revision's) line items: 1 to ``MAX_LINES`` of them."""
    issue = "must be a non-empty list"
    return serializers.ListField(
        child=OrderItemSerializer(),
        min_length=1,
        max_length=MAX_LINES,
        error_messages={
            **dict.fromkeys(("required", "null", "not_a_list", "empty", "min_length"), issue),
            "max_length": f"at most {MAX_LINES} lines",
        },
    )


class CreateOrderSerializer(StrictSerializer):
    """The place-order command: it validates every transport's request (JSON, protobuf, gRPC, an ingest line)
    and is the schema of ``POST /api/v1/orders``."""

    consumerId = _text()
    restaurantId = _text()
    items = _item_list()
    deliveryAddress = AddressSerializer(error_messages={"required": "must be an object", "null": "must be an object"})
    deliveryTime = ZonedTime(required=False)
    paymentToken = _optional_text()


class ReviseOrderSerializer(StrictSerializer):
    """The revise-order command (the full new list of line items): it validates every transport's request and is
    the schema of ``POST /api/v1/orders/{id}/revise``."""

    items = _item_list()


def canonical(data: object) -> dict[str, Any]:
    """The validated, normalized command; raises InvalidArgument naming every bad field at once."""
    if not isinstance(data, Mapping):
        raise InvalidArgument("the request body must be a JSON object", [Detail("body", "not an object")])
    valid = _validated(data)
    command: dict[str, Any] = {
        "consumerId": valid["consumerId"],
        "restaurantId": valid["restaurantId"],
        "items": [{"menuItemId": item["menuItemId"], "quantity": item["quantity"]} for item in valid["items"]],
        "deliveryAddress": {name: value for name, value in valid["deliveryAddress"].items() if value != ""},
    }
    for name in ("deliveryTime", "paymentToken"):
        if valid.get(name):  # an empty string counts as absent
            command[name] = valid[name]
    problems = _duplicates(command["items"])
    consumer = None if problems else _references(command, problems)
    if consumer is not None and personal.is_erased(consumer):
        problems.append(Detail("consumerId", "consumer erased"))
    if problems:
        raise InvalidArgument("the order is invalid", problems)
    assert consumer is not None
    # Sealed before anything hashes, stores, parks or logs it (checkout.personal).
    command["deliveryAddress"] = personal.seal(consumer, command["deliveryAddress"], "deliveryAddress")
    if "paymentToken" in command:
        command["paymentToken"] = personal.seal(consumer, command["paymentToken"], "paymentToken")
    return command


def revision(data: object, restaurant_id: str) -> dict[str, Any]:
    """The validated revision command: the full new list of items, checked like an order's."""
    if not isinstance(data, Mapping):
        raise InvalidArgument("the request body must be a JSON object", [Detail("body", "not an object")])
    valid = _validated(data, ReviseOrderSerializer, "the revision is invalid")
    items = [{"menuItemId": item["menuItemId"], "quantity": item["quantity"]} for item in valid["items"]]
    problems = _duplicates(items)
    if not problems:
        _menu_items(selectors.menu(restaurant_id), items, problems)
    if problems:
        raise InvalidArgument("the revision is invalid", problems)
    return {"items": items}


def _validated(
    data: Mapping[str, Any],
    serializer_class: type[StrictSerializer] = CreateOrderSerializer,
    message: str = "the order is invalid",
) -> Mapping[str, Any]:
    """``serializer_class``'s validated data. One instance per thread validates every command: DRF builds a
    serializer's fields by deep copy on first use (most of its cost), and validating keeps no state on the
    instance (the way a ``ListField`` validates every item with its one child)."""
    serializer = getattr(_per_thread, serializer_class.__name__, None)
    if serializer is None:
        serializer = serializer_class()
        setattr(_per_thread, serializer_class.__name__, serializer)
    try:
        valid: Mapping[str, Any] = serializer.run_validation(data)
    except serializers.ValidationError as exc:
        raise InvalidArgument(message, flatten(exc.detail)) from None
    return valid


def _duplicates(items: list[dict[str, Any]]) -> list[Detail]:
    seen: set[str] = set()
    problems = []
    for n, item in enumerate(items):
        if item["menuItemId"] in seen:
            problems.append(Detail(f"items[{n}].menuItemId", "menu item listed twice"))
        seen.add(item["menuItemId"])
    return problems


def _references(command: dict[str, Any], problems: list[Detail]) -> Consumer | None:
    # Through the selectors: inside a request's read scope the chain reuses these rows instead of reading again.
    # The three look-ups in one round trip (the menu is read by the restaurant's id as given).
    consumer, restaurant, menu = selectors.references(command["consumerId"], command["restaurantId"])
    if consumer is None:
        problems.append(Detail("consumerId", "unknown consumer"))
    if restaurant is None:
        problems.append(Detail("restaurantId", "unknown restaurant"))
        return consumer
    _menu_items(menu, command["items"], problems)
    return consumer


def _menu_items(menu: dict[str, MenuItem], items: list[dict[str, Any]], problems: list[Detail]) -> None:
    for n, item in enumerate(items):
        if item["menuItemId"] not in menu:
            problems.append(Detail(f"items[{n}].menuItemId", "unknown menu item"))


def command_hash(command: Mapping[str, Any]) -> str:
    text = json.dumps(command, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def same_request(stored: OrderRequest, command: Mapping[str, Any], digest: str) -> bool:
    """Whether ``command`` (canonical, hashed to ``digest``) is the request ``stored`` recorded.

    An order placed before its delivery address, or its payment token, was sealed hashed that value in clear, and
    a replay of its body seals it now: it is compared in the form it was hashed in, the values ``stored`` keeps in
    clear opened again (docs/operations.md, "Erasure of personal data")."""
    if stored.command_hash == digest:
        return True
    held = {"deliveryAddress": stored.delivery_address, "paymentToken": stored.payment_token}
    clear = [
        name for name, value in held.items() if name in command and value is not None and not personal.is_sealed(value)
    ]
    consumer = selectors.consumer(command["consumerId"]) if clear else None
    if consumer is None:
        return False
    as_then = {**command, **{name: personal.opened(consumer, command[name]) for name in clear}}
    return stored.command_hash == command_hash(as_then)
