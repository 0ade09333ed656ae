"""FTGO's orders, tickets and deliveries over ``checkout.services``: translate ids and bodies, call, render.

Every rule (validation, idempotency, cancellation, revision, acceptance) is the service's; this module maps
FTGO's numbers to TPFGo's ids, FTGO's field names to TPFGo's, and TPFGo's derived state to FTGO's (``states``).
A request without an ``Idempotency-Key`` gets a fresh one, so a blind retry of it is a second command.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from checkout import selectors, services
from checkout.models import Restaurant
from checkout.order_request.models import OrderRequest
from ftgo import aliases, jackson, states, times
from ftgo.models import FtgoAlias
from pipelines import Detail, FailedPrecondition, InvalidArgument, NotFound, tombstone

ORDER_FIELDS = {"consumerId", "restaurantId", "deliveryAddress", "deliveryTime", "lineItems"}
# FTGO's order history answers pages; this surface answers the newest orders of a consumer, up to this many.
HISTORY_LIMIT = 100


def json_object(data: object, allowed: set[str]) -> Mapping[str, Any]:
    """FTGO's body: a JSON object of known fields (an absent body is an empty one); the service checks the rest."""
    if data is None or data == {}:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidArgument("the request body must be a JSON object", [Detail("body", "not an object")])
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidArgument(
            "the request body has unknown fields", [Detail(name, "unknown field") for name in unknown]
        )
    return data


def fresh_key(key: str | None) -> str:
    """The client's Idempotency-Key, or a new one (FTGO's clients send none)."""
    return key if key is not None else f"ftgo-{uuid.uuid4().hex}"


def _renamed(
    error: InvalidArgument, tpfgo_name: str, ftgo_name: str, positions: list[int] | None = None
) -> InvalidArgument:
    """``error`` with its details under ``tpfgo_name`` named ``ftgo_name``; ``positions[n]`` the client's index of
    item ``n`` when TPFGo was given only some of the client's items."""

    def renamed(field: str) -> str:
        rest = field[len(tpfgo_name) :]
        index = re.match(r"\[(\d+)\]", rest)
        if positions is not None and index is not None and int(index[1]) < len(positions):
            rest = f"[{positions[int(index[1])]}]{rest[index.end() :]}"
        return ftgo_name + rest

    details = [Detail(renamed(d.field), d.issue) if d.field.startswith(tpfgo_name) else d for d in error.details]
    return InvalidArgument(error.message, details)


def _reference(body: Mapping[str, Any], field: str, kind: str, problems: list[Detail]) -> str | None:
    number = aliases.parse(jackson.integer(body.get(field), jackson.LONG), kind)
    if number is None:
        problems.append(Detail(field, "must be a positive integer (an FTGO id)"))
        return None
    try:
        return aliases.tpfgo_id(kind, number)
    except NotFound:
        problems.append(Detail(field, f"unknown {kind}"))
        return None


# --- Orders -----------------------------------------------------------------------------------------------------
def place_order(data: object, key: str | None) -> dict[str, Any]:
    body = json_object(data, ORDER_FIELDS)
    problems: list[Detail] = []
    consumer_id = _reference(body, "consumerId", FtgoAlias.CONSUMER, problems)
    restaurant_id = _reference(body, "restaurantId", FtgoAlias.RESTAURANT, problems)
    address = body.get("deliveryAddress")
    if isinstance(address, Mapping):  # FTGO sends street2: null
        address = {name: jackson.text(value) for name, value in address.items() if value is not None}
    try:
        delivery_time = times.utc_text(body.get("deliveryTime"), "deliveryTime")
    except InvalidArgument as exc:
        problems += exc.details
        delivery_time = None
    if problems:
        raise InvalidArgument("the order is invalid", problems)
    command: dict[str, Any] = {
        "consumerId": consumer_id,
        "restaurantId": restaurant_id,
        "items": _lines(body.get("lineItems")),
        "deliveryAddress": address,
    }
    if delivery_time is not None:
        command["deliveryTime"] = delivery_time
    try:
        placed = services.place_order(command, fresh_key(key))
    except InvalidArgument as exc:
        raise _renamed(exc, "items", "lineItems")
    return {"orderId": aliases.number_for(FtgoAlias.ORDER, placed.view["orderId"])}


def _order(number: object) -> tuple[int, str]:
    return aliases.lookup(FtgoAlias.ORDER, number)


def render(number: int, view: Mapping[str, Any]) -> dict[str, Any]:
    """The union of FTGO's order-service answer and its API gateway's ``orderInfo``, plus TPFGo's own names."""
    state = states.order_state(view)
    return {
        "orderId": number,
        "state": state,
        "orderTotal": view["orderTotal"],
        "orderInfo": {"orderId": str(number), "state": state},
        "consumerId": aliases.number_for(FtgoAlias.CONSUMER, view["consumerId"]),
        "restaurantId": aliases.number_for(FtgoAlias.RESTAURANT, view["restaurantId"]),
        "lineItems": [
            {"menuItemId": li["menuItemId"], "name": li["name"], "quantity": li["quantity"], "price": li["unitPrice"]}
            for li in view["lines"]
        ],
        "tpfgo": {"orderId": view["orderId"], "state": view["state"]},
    }


def get_order(number: object) -> dict[str, Any]:
    found, order_id = _order(number)
    return render(found, services.get_order(order_id))


def order_history(consumer: object) -> dict[str, Any]:
    """A consumer's orders, newest first (FTGO's order history service answers the same shape)."""
    if consumer is None:
        raise InvalidArgument("consumerId is required", [Detail("consumerId", "is required")])
    if aliases.parse(consumer, FtgoAlias.CONSUMER) is None:
        raise InvalidArgument("consumerId is malformed", [Detail("consumerId", "must be a positive integer")])
    consumer_id = aliases.tpfgo_id(FtgoAlias.CONSUMER, consumer)
    requests = list(
        OrderRequest.objects.filter(consumer_id=consumer_id)
        .order_by("-created_at", "-id")
        .values_list("order_id", "restaurant_id")[:HISTORY_LIMIT]
    )
    names = dict(Restaurant.objects.filter(pk__in={r for _, r in requests}).values_list("id", "name"))
    orders = []
    for order_id, restaurant_id in requests:
        view = services.get_order(order_id)
        orders.append(
            {
                "orderId": str(aliases.number_for(FtgoAlias.ORDER, str(order_id))),
                "status": states.order_state(view),
                "restaurantId": aliases.number_for(FtgoAlias.RESTAURANT, restaurant_id),
                "restaurantName": names.get(restaurant_id, ""),
                "orderTotal": view["orderTotal"],
            }
        )
    return {"orders": orders, "startKey": None}  # FTGO's key of the next page: there is none


def _refused(what: str, decision: Mapping[str, Any]) -> FailedPrecondition:
    reason = decision.get("reason") or "REFUSED"
    return FailedPrecondition(f"the {what} was refused: {reason}", [Detail("orderId", reason)])


def cancel_order(number: object, data: object) -> dict[str, Any]:
    found, order_id = _order(number)
    json_object(data, set())  # FTGO sends {}
    result = services.cancel_order(order_id)
    if result["cancellation"]["outcome"] != "ACCEPTED":
        raise _refused("cancellation", result["cancellation"])
    return render(found, result["order"])


def revise_order(number: object, data: object, key: str | None) -> dict[str, Any]:
    found, order_id = _order(number)
    body = json_object(data, {"revisedOrderLineItems"})
    items, positions = _kept_lines(_lines(body.get("revisedOrderLineItems")))
    if items == []:
        raise InvalidArgument(
            "the revision is invalid",
            [Detail("revisedOrderLineItems", "at least one line item with a quantity above 0")],
        )
    try:
        result = services.revise_order(order_id, {"items": items}, fresh_key(key))
    except InvalidArgument as exc:
        raise _renamed(exc, "items", "revisedOrderLineItems", positions)
    if result["revision"]["outcome"] != "ACCEPTED":
        raise _refused("revision", result["revision"])
    return render(found, result["order"])


def _lines(lines: object) -> object:
    """An order's or a revision's lines with their menu item ids and quantities read as Jackson reads them into
    FTGO's ``String menuItemId`` and ``int quantity`` (``jackson``); anything else as sent, for TPFGo's checks."""
    if not isinstance(lines, list):
        return lines
    coerce = {"menuItemId": jackson.text, "quantity": jackson.integer}
    return [
        {name: coerce[name](value) if name in coerce else value for name, value in line.items()}
        if isinstance(line, Mapping)
        else line
        for line in lines
    ]


def _kept_lines(lines: object) -> tuple[object, list[int] | None]:
    """FTGO revises a line's quantity to 0 to take the item off the order (its total counts it for nothing); TPFGo's
    revision is the full new list, of quantities 1 to 99: such a line is left out. The lines kept, with each one's
    index in the client's list (None when ``lines`` is not a list: the revision's own checks refuse it)."""
    if not isinstance(lines, list):
        return lines, None
    positions = [
        n
        for n, line in enumerate(lines)
        if not (isinstance(line, Mapping) and type(line.get("quantity")) is int and line["quantity"] == 0)
    ]
    return [lines[n] for n in positions], positions


# --- Kitchen and delivery ---------------------------------------------------------------------------------------
def accept_ticket(number: object, data: object) -> dict[str, Any]:
    """FTGO's ticket id is its order's id."""
    found, order_id = _order(number)
    body = json_object(data, {"readyBy"})
    ready_by = times.utc_text(body.get("readyBy"), "readyBy")
    ticket = selectors.ticket(uuid.UUID(order_id))
    if ticket is None and tombstone(order_id) is not None:  # named by its order's number: the order's answer
        raise services.missing_order(order_id)
    if ticket is None:
        raise NotFound(f"ticket {number} not found")
    services.accept_ticket(ticket.kitchen_ticket_id, ready_by)
    return {"ticketId": found}


def get_delivery(number: object) -> dict[str, Any]:
    """FTGO's delivery of an order: PENDING until a courier is assigned, then SCHEDULED; CANCELLED with the order."""
    found, order_id = _order(number)
    view = services.get_order(order_id)
    ended = view["state"] in ("CANCEL_PENDING", "CANCELLED", "REJECTED")  # not delivered and never will be
    courier = view["courierId"]
    reached = {checkpoint["type"] for checkpoint in view["checkpoints"]}
    actions = (
        []
        if ended or courier is None
        else [
            {"type": action}
            for action, done in (("PICKUP", "OrderPickedUp"), ("DROPOFF", "OrderDelivered"))
            if done not in reached
        ]
    )
    return {
        "deliveryInfo": {"id": found, "state": "CANCELLED" if ended else "SCHEDULED" if courier else "PENDING"},
        "assignedCourier": aliases.number_for(FtgoAlias.COURIER, courier) if courier else None,
        "courierActions": actions,
    }
