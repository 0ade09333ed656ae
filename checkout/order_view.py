"""The order view as a typed object, and the one serializer that renders it.

``checkout.state.order_view`` builds an ``OrderView`` (the selector); ``render`` turns it into the JSON shape of
docs/api.md through ``OrderViewSerializer``, the class drf-spectacular documents. ``checkout.services`` answers that
shape to every transport: REST as it is, gRPC and protobuf-over-HTTP mapped to ``tpfgo.checkout.v1.Order``
(``checkout.messages``), the FTGO adapter translated; the ops console shows the object itself. Values are kept in
their wire form (ids, amounts and times as text) so that every transport shows the same characters.
"""

from __future__ import annotations

import operator
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rest_framework import serializers

_per_thread = threading.local()

if TYPE_CHECKING:  # DRF's stubs make Serializer generic in the instance it renders; DRF itself is not subscriptable
    OutputSerializer = serializers.Serializer[Any]
else:

    class OutputSerializer(serializers.Serializer):
        """A serializer that only renders plain objects (the frozen dataclasses below), field by field.

        ``to_representation`` does what DRF's does for such objects (each field's value read along its ``source``,
        ``None`` kept as ``None``, otherwise the field's own ``to_representation``) without DRF's per-value
        generality (mappings, callables, skipped fields), which cost more than the rendering itself: every order
        answered is rendered once (``tests/checkout/test_order_view.py`` compares it with DRF's own)."""

        def to_representation(self, instance):
            plan = self.__dict__.get("_plan")
            if plan is None:
                plan = self._plan = _Plan(list(self._readable_fields))
            if plan.read is not None:  # every source one attribute deep: all of them read in one call
                return {
                    name: None if value is None else convert(value)
                    for name, convert, value in zip(plan.names, plan.converters, plan.read(instance), strict=True)
                }
            out = {}
            for name, attrs, convert in zip(plan.names, plan.sources, plan.converters, strict=True):
                value = instance
                for attr in attrs:
                    value = getattr(value, attr)
                    if value is None:
                        break
                out[name] = None if value is None else convert(value)
            return out

    class _Plan:
        """How one output serializer renders: its fields' names, sources and converters, fixed on first use."""

        def __init__(self, fields):
            self.names = [f.field_name for f in fields]
            self.sources = [f.source_attrs for f in fields]
            self.converters = [_converter(f) for f in fields]
            flat = all(len(attrs) == 1 for attrs in self.sources) and len(fields) > 1
            self.read = operator.attrgetter(*(attrs[0] for attrs in self.sources)) if flat else None

    def _converter(field):
        """What renders one field's value: the field's own ``to_representation``, or what it amounts to for the
        kinds every view is full of (DRF's ``CharField`` is ``str``, ``IntegerField`` is ``int``, a list of
        nested output serializers is each item rendered), without a call into DRF per value."""
        kind = type(field)
        if kind is serializers.CharField:
            return str
        if kind is serializers.IntegerField:
            return int
        if kind is serializers.ListSerializer and isinstance(field.child, OutputSerializer):
            render = field.child.to_representation
            return lambda items: [render(item) for item in items]
        return field.to_representation


@dataclass(frozen=True)
class OrderLine:
    menu_item_id: str
    name: str | None
    quantity: int
    unit_price: str | None
    line_total: str | None

    @classmethod
    def stored(cls, line: Mapping[str, Any]) -> OrderLine:
        """A priced line as a snapshot or a revision stores it (``checkout.pricing.line``)."""
        return cls(line["menuItemId"], line["name"], line["quantity"], line["unitPrice"], line["lineTotal"])


@dataclass(frozen=True)
class Stalled:
    """The order's open failure: where it is parked and why."""

    pipeline: str
    step: str
    error_class: str
    message: str
    attempts: int
    dead_lettered: bool


@dataclass(frozen=True)
class CheckpointRef:
    type: str
    id: str
    pipeline: str
    created_at: str


@dataclass(frozen=True)
class RevisionEntry:
    revision_id: str
    request_id: str
    outcome: str
    reason: str | None
    order_total: str
    lines: tuple[OrderLine, ...]
    requested_at: str


@dataclass(frozen=True)
class OrderView:
    order_id: uuid.UUID
    request_id: str
    state: str
    reason: str | None
    failure_code: str | None
    outcome: str | None
    stalled: Stalled | None
    consumer_id: str
    restaurant_id: str
    order_total: str | None
    currency: str | None
    lines: tuple[OrderLine, ...]
    kitchen_ticket_id: str | None
    dispatch_id: str | None
    courier_id: str | None
    payment_id: str | None
    revisions: tuple[RevisionEntry, ...]
    checkpoints: tuple[CheckpointRef, ...]
    in_progress: tuple[str, ...] = ()  # pipelines handed to their queue that have not run yet


# --- the serializers (output only: they render, they hold no rule) -------------------------------------------------
def _text(source: str | None = None) -> serializers.CharField:
    return serializers.CharField(allow_null=True, source=source)


class StalledSerializer(OutputSerializer):
    pipeline = serializers.CharField()
    step = serializers.CharField()
    errorClass = serializers.CharField(source="error_class")
    message = serializers.CharField()
    attempts = serializers.IntegerField()
    deadLettered = serializers.BooleanField(source="dead_lettered")


class OrderLineSerializer(OutputSerializer):
    menuItemId = serializers.CharField(source="menu_item_id")
    name = _text()
    quantity = serializers.IntegerField()
    unitPrice = _text("unit_price")
    lineTotal = _text("line_total")


class CheckpointSerializer(OutputSerializer):
    type = serializers.CharField()
    id = serializers.CharField()
    pipeline = serializers.CharField()
    createdAt = serializers.CharField(source="created_at")


REVISION_OUTCOMES = ["ACCEPTED", "REFUSED", "PENDING"]


class RevisionEntrySerializer(OutputSerializer):
    revisionId = serializers.UUIDField(source="revision_id")
    requestId = serializers.CharField(source="request_id")
    outcome = serializers.ChoiceField(choices=REVISION_OUTCOMES)
    reason = _text()
    orderTotal = serializers.CharField(source="order_total")
    lines = OrderLineSerializer(many=True)
    requestedAt = serializers.CharField(source="requested_at")


class OrderViewSerializer(OutputSerializer):
    orderId = serializers.UUIDField(source="order_id")
    requestId = serializers.CharField(source="request_id")
    state = serializers.CharField()
    reason = _text()
    failureCode = _text("failure_code")
    outcome = _text()
    stalled = StalledSerializer(allow_null=True)
    consumerId = serializers.CharField(source="consumer_id")
    restaurantId = serializers.CharField(source="restaurant_id")
    orderTotal = _text("order_total")
    currency = _text()
    lines = OrderLineSerializer(many=True)
    kitchenTicketId = _text("kitchen_ticket_id")
    dispatchId = _text("dispatch_id")
    courierId = _text("courier_id")
    paymentId = _text("payment_id")
    revisions = RevisionEntrySerializer(many=True)
    checkpoints = CheckpointSerializer(many=True)
    inProgress = serializers.ListField(child=serializers.CharField(), source="in_progress")


def render(view: OrderView) -> dict[str, Any]:
    """The view's JSON shape, as every transport answers it. One serializer per thread renders every view: DRF
    builds a serializer's fields by deep copy on first use (most of its cost), and rendering keeps no state on the
    instance (``checkout.commands`` validates the same way)."""
    serializer = getattr(_per_thread, "serializer", None)
    if serializer is None:
        serializer = _per_thread.serializer = OrderViewSerializer()
    return dict(serializer.to_representation(view))
