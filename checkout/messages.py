"""docs/api.md's JSON shapes as ``tpfgo.checkout.v1`` messages, and back: one mapping for gRPC and protobuf-over-HTTP.

Messages mirror the JSON field for field (proto JSON names are the camelCase ones), so the mapping is protobuf's
own JSON mapping: a request message becomes exactly the dict a JSON client would send (an unset optional field
stays absent, an empty string counts as absent for the service), and a view dict becomes a message (``null`` →
unset). Transports call these functions; none of them holds a rule of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from checkout.protos import orders_pb2
from pipelines import Detail, InvalidArgument, ServiceError

M = TypeVar("M", bound=Message)

KEY_FIELD = "idempotencyKey"
KEY_HEADER = "Idempotency-Key"  # what the services' errors call the key: REST's header


def decode(cls: type[M], raw: bytes) -> M:
    """Bytes → message; anything protobuf cannot parse is INVALID_ARGUMENT."""
    message: M = cls()
    try:
        message.ParseFromString(raw)
    except (DecodeError, ValueError, RuntimeError):
        raise InvalidArgument(
            f"the request body is not a valid {cls.DESCRIPTOR.full_name} message",
            [Detail("body", "malformed protobuf")],
        )
    return message


def to_data(message: Message) -> dict[str, Any]:
    """Message → the JSON dict (camelCase names; unset optional fields absent)."""
    data: dict[str, Any] = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return data


def to_message(data: object, cls: type[M]) -> M:
    """The JSON dict of a view → its message (``None`` leaves a field unset)."""
    message: M = json_format.ParseDict(data, cls())
    return message


def create_command(message: orders_pb2.CreateOrderRequest) -> tuple[dict[str, Any], str | None]:
    """A ``CreateOrderRequest`` → (the JSON body of ``POST /api/v1/orders``, the key given in the message)."""
    data = to_data(message)
    key = data.pop(KEY_FIELD, None)
    return data, key


def revise_command(message: orders_pb2.ReviseOrderRequest) -> tuple[dict[str, Any], str | None]:
    """A ``ReviseOrderRequest`` → (the JSON body of ``POST /api/v1/orders/{id}/revise``, the key in the message)."""
    data = to_data(message)
    data.pop("orderId", None)
    key = data.pop(KEY_FIELD, None)
    return data, key


def pick_key(
    field_key: str | None, header_key: str | None, header: str = "idempotency-key", field: str = "idempotency_key"
) -> str | None:
    """The idempotency key from the message field or the header/metadata; given twice, both must match."""
    if field_key and header_key and field_key != header_key:
        raise InvalidArgument(
            f"the idempotency key was given in the field {field} and in {header} with different values",
            [Detail(field, f"differs from {header}")],
        )
    return field_key or header_key or None


def key_name(field_key: str | None, header_key: str | None, *, field: str, header: str) -> str:
    """What the client called the idempotency key it sent (:func:`pick_key`'s two places): the message field when it
    gave one, else the header or metadata; neither: both, as either would have done."""
    if field_key:
        return field
    if header_key:
        return header
    return f"{field} (or {header})"


@contextmanager
def naming_key(name: str) -> Iterator[None]:
    """A service error raised inside calls the idempotency key ``name``, what the client used, instead of the REST
    header's name: a gRPC client that set the field ``idempotency_key`` was told about an ``Idempotency-Key``."""
    try:
        yield
    except ServiceError as exc:
        raise renamed(exc, name)


def renamed(error: ServiceError, name: str) -> ServiceError:
    """``error`` with the idempotency key called ``name`` in its message and details."""
    if name != KEY_HEADER:
        error.message = error.message.replace(KEY_HEADER, name)
        error.args = (error.message,)
        error.details = [
            Detail(name if d.field == KEY_HEADER else d.field, d.issue.replace(KEY_HEADER, name)) for d in error.details
        ]
    return error


def same_order_id(path_id: str, message_id: str) -> None:
    """A body message that names an order must name the one in the URL, in any form an order id is read in
    (``checkout.services.parse_id``: ``DF23…`` in the URL and ``df23…`` in the body name one order)."""
    if message_id and not _same_id(message_id, path_id):
        raise InvalidArgument(
            "order_id in the body differs from the order id in the URL", [Detail("order_id", "differs from URL")]
        )


def _same_id(one: str, other: str) -> bool:
    from checkout.services import read_id

    first, second = read_id(one), read_id(other)
    if first is None or second is None:  # not an order id: the look-up answers NOT_FOUND if the two are the same text
        return one == other
    return first == second
