"""Every answer the JSON serializers render has a field of the same name in its ``tpfgo.checkout.v1`` message.

gRPC and protobuf-over-HTTP map a view's JSON dict onto its message with protobuf's own JSON mapping
(``checkout.messages.to_message``), which refuses a name the message lacks: a view field added to a serializer and
not to ``checkout/protos/orders.proto`` would fail every such answer of an order. ``checkout.E002`` (a system check,
so ``manage.py check``, ``make checks`` and every ``migrate`` run it) names the field instead (docs/api.md, "Adding a
field to the order view").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks
from google.protobuf.descriptor import Descriptor
from rest_framework import serializers

from checkout.protos import orders_pb2

PROTO = "checkout/protos/orders.proto"


def answers() -> tuple[tuple[type[serializers.Serializer[Any]], type[Any]], ...]:
    """Each response serializer with the message its protobuf answer is: the order view and what carries it."""
    from checkout.api import serializers as api
    from checkout.order_view import OrderViewSerializer

    return (
        (OrderViewSerializer, orders_pb2.Order),
        (api.CancelResponseSerializer, orders_pb2.CancelOrderResponse),
        (api.ReviseResponseSerializer, orders_pb2.ReviseOrderResponse),
        (api.LineageNodeSerializer, orders_pb2.LineageNode),
    )


def mismatches(serializer: serializers.Serializer[Any], message: Descriptor, path: str) -> Iterator[str]:
    """What of ``serializer``'s output has no place in ``message``: a field it lacks, or a list where it has a single
    value (and the other way round); nested serializers are compared with their fields' messages."""
    fields = {field.json_name: field for field in message.fields}
    for name, rendered in serializer.fields.items():
        where = f"{path}.{name}"
        field = fields.get(name)
        if field is None:
            yield (
                f"{where} has no field in message {message.full_name} of {PROTO} (expected a field whose JSON name is "
                f"'{name}' actual=none)"
            )
            continue
        many = isinstance(rendered, serializers.ListSerializer | serializers.ListField)
        repeated = field.is_repeated
        if many != repeated:
            expected, actual = ("repeated", "single") if many else ("single", "repeated")
            kind, state = ("list", "not repeated") if many else ("single value", "repeated")
            target = f"{message.full_name}.{field.name}"
            yield f"{where} is a {kind} but {target} is {state} (expected={expected} actual={actual})"
            continue
        nested = rendered.child if isinstance(rendered, serializers.ListSerializer) else rendered
        if isinstance(nested, serializers.Serializer) and field.message_type is not None:
            yield from mismatches(nested, field.message_type, where)


def check_answers(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """Registered by the checkout app."""
    found: list[checks.CheckMessage] = []
    for serializer, message in answers():
        for problem in mismatches(serializer(), message.DESCRIPTOR, serializer.__name__):
            found.append(
                checks.Error(
                    problem,
                    hint=(
                        f"Add the field to the message in {PROTO} (snake_case, the next unused number, optional "
                        'when it may be null), then run make protos (docs/api.md, "Adding a field to the order view").'
                    ),
                    id="checkout.E002",
                )
            )
    return found
