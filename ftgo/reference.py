"""FTGO's consumers, accounts, restaurants and couriers over ``checkout.reference`` (TPFGo's own rules apply).

Each create translates FTGO's body into TPFGo's, checks it with the serializer ``/api/v1/`` uses, writes through
``checkout.reference`` and gives the new row its FTGO number, in one transaction: a refused body stores nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db import transaction
from rest_framework import serializers

from checkout import reference, selectors
from checkout.api import serializers as tpfgo
from checkout.models import Consumer, Restaurant
from ftgo import aliases, jackson
from ftgo.models import FtgoAlias
from pipelines import AlreadyExists, Detail, InvalidArgument, NotFound, flatten

Row = TypeVar("Row")


def checked(
    serializer_class: type[serializers.Serializer[Any]], data: object, rename: Mapping[str, str]
) -> dict[str, Any]:
    """``data`` validated by a TPFGo serializer; its complaints name FTGO's fields (``rename``: prefix → prefix)."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        details = [Detail(_renamed(d.field, rename), d.issue) for d in flatten(serializer.errors)]
        raise InvalidArgument("the request is invalid", details)
    return dict(serializer.validated_data)


def _renamed(field: str, rename: Mapping[str, str]) -> str:
    for tpfgo_name, ftgo_name in rename.items():
        if field == tpfgo_name or field.startswith((f"{tpfgo_name}.", f"{tpfgo_name}[")):
            return ftgo_name + field[len(tpfgo_name) :]
    return field


def _new_id(kind: str) -> str:
    return f"ftgo-{kind}-{uuid.uuid4().hex}"


# --- Consumers and their accounts -------------------------------------------------------------------------------
def create_consumer(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data``: FTGO's ``{name: {firstName, lastName}}``, shape-checked; TPFGo keeps the name as one text."""
    name = f"{data['name']['firstName']} {data['name']['lastName']}"
    body = checked(tpfgo.ConsumerSerializer, {"id": _new_id(FtgoAlias.CONSUMER), "name": name}, {})
    with transaction.atomic():
        created = reference.create_consumer(body, None)  # FTGO registers no payment token
        number = aliases.number_for(FtgoAlias.CONSUMER, created["id"])
    return {"consumerId": number}


def _row(kind: str, number: object, select: Callable[[str], Row | None]) -> tuple[int, Row]:
    """The FTGO number and the reference row behind it (NOT_FOUND when either is missing)."""
    found, tpfgo_id = aliases.lookup(kind, number)
    row = select(tpfgo_id)
    if row is None:
        raise NotFound(f"{kind} {number} not found")
    return found, row


def _consumer(number: object) -> tuple[int, Consumer]:
    return _row(FtgoAlias.CONSUMER, number, selectors.consumer)


def get_consumer(number: object) -> dict[str, Any]:
    """The name split back at its last space (TPFGo stores one text)."""
    found, consumer = _consumer(number)
    first, _, last = consumer.name.rpartition(" ")
    return {"consumerId": found, "name": {"firstName": first or last, "lastName": last if first else ""}}


def get_account(number: object) -> dict[str, Any]:
    """FTGO's accounting service opens an account per consumer; here it is the consumer's payment standing. FTGO
    names the account by the consumer's number, and answers it as text (its ``accountId`` is a ``String``)."""
    found, _ = _consumer(number)
    return {"accountId": str(found)}


# --- Restaurants ------------------------------------------------------------------------------------------------
def create_restaurant(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data``: FTGO's ``{name, address, menu: {menuItems}}``; the restaurant accepts tickets by hand, as in FTGO."""
    address = data["address"]
    lines = [address["street1"], address.get("street2"), address["city"], f"{address['state']} {address['zip']}"]
    body = {
        "id": _new_id(FtgoAlias.RESTAURANT),
        "name": data["name"],
        "address": ", ".join(line for line in lines if line),
        "acceptanceMode": Restaurant.MANUAL,
        "menu": [{"id": i["id"], "name": i["name"], "price": i["price"]} for i in data["menu"]["menuItems"]],
    }
    validated = checked(tpfgo.RestaurantSerializer, body, {"menu": "menu.menuItems"})
    try:
        with transaction.atomic():
            created = reference.create_restaurant(validated)
            number = aliases.number_for(FtgoAlias.RESTAURANT, created["id"])
    except InvalidArgument as exc:  # a menu item listed twice
        raise InvalidArgument(exc.message, [Detail("menu.menuItems", d.issue) for d in exc.details])
    return {"id": number}


def get_restaurant(number: object) -> dict[str, Any]:
    found, restaurant = _row(FtgoAlias.RESTAURANT, number, selectors.restaurant)
    view = reference.restaurant_view(restaurant)
    items = [{"id": i["id"], "name": i["name"], "price": i["price"]} for i in view["menu"]]
    return {"id": found, "restaurantId": found, "name": view["name"], "menu": {"menuItems": items}}


# --- Couriers ---------------------------------------------------------------------------------------------------
def set_courier_availability(number: object, data: object) -> dict[str, Any]:
    """FTGO's client names its courier; the first mention creates it (completing deliveries on its own)."""
    parsed = aliases.parse(number, FtgoAlias.COURIER)
    if parsed is None:
        raise NotFound(f"courier {number} not found")
    if isinstance(data, Mapping) and "available" in data:  # FTGO's boolean, as Jackson reads it
        data = {**data, "available": jackson.boolean(data["available"])}
    available = checked(tpfgo.AvailabilitySerializer, data, {})["available"]
    with transaction.atomic():
        courier_id = aliases.claim(FtgoAlias.COURIER, parsed, f"ftgo-courier-{parsed}")
        try:
            reference.create_courier({"id": courier_id, "name": f"FTGO courier {parsed}", "available": available})
        except AlreadyExists:
            reference.set_courier_availability(courier_id, available)
    return {"courierId": parsed, "available": available}
