"""Reference data as the API shows it: consumers, restaurants with their menus, couriers (ordinary mutable rows).

Transports validate the body's shape and call one function here; an id that already exists is ALREADY_EXISTS,
an unknown one NOT_FOUND. An order snapshots what it needs in pipeline 01, so these edits never change an order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from checkout import personal
from checkout.models import Consumer, Courier, MenuItem, Restaurant
from pipelines import AlreadyExists, Detail, InvalidArgument, NotFound, wire

# What a reference-data id may be (the create routes refuse anything else, so nothing else can exist).
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


def consumer_view(consumer: Consumer, viewer: object) -> dict[str, Any]:
    """The consumer; the payment token on file as ``viewer`` may see it (``checkout.personal.shown``: whole to a
    superuser, its last four characters to everyone else)."""
    view: dict[str, Any] = {"id": consumer.id, "name": consumer.name, "active": consumer.active}
    if consumer.payment_token:
        view["paymentToken"] = personal.shown(consumer.payment_token, viewer, "paymentToken")
    return view


def restaurant_view(restaurant: Restaurant) -> dict[str, Any]:
    return {
        "id": restaurant.id,
        "name": restaurant.name,
        "address": restaurant.address,
        "currency": restaurant.currency,
        "orderMinimum": wire(Decimal(restaurant.order_minimum)),
        "acceptanceMode": restaurant.acceptance_mode,
        "menu": [
            {"id": item.item_id, "name": item.name, "price": wire(Decimal(item.price))}
            for item in restaurant.menu.all()
        ],
    }


def courier_view(courier: Courier) -> dict[str, Any]:
    return {
        "id": courier.id,
        "name": courier.name,
        "available": courier.available,
        "completionMode": courier.completion_mode,
    }


def list_consumers(viewer: object) -> list[dict[str, Any]]:
    return [consumer_view(c, viewer) for c in Consumer.objects.order_by("id")]


def list_restaurants() -> list[dict[str, Any]]:
    return [restaurant_view(r) for r in Restaurant.objects.order_by("id").prefetch_related("menu")]


def list_couriers() -> list[dict[str, Any]]:
    return [courier_view(c) for c in Courier.objects.order_by("id")]


def _exists(what: str, key: str) -> AlreadyExists:
    return AlreadyExists(f"{what} {key} already exists", [Detail("id", "already exists")])


def create_consumer(data: Mapping[str, Any], viewer: object) -> dict[str, Any]:
    """``data``: ``{id, name, active?, paymentToken?}``, already shape-checked by the transport."""
    try:
        with transaction.atomic():
            consumer = Consumer.objects.create(
                id=data["id"],
                name=data["name"],
                active=data.get("active", True),
                payment_token=data.get("paymentToken") or "",
            )
    except IntegrityError:
        raise _exists("consumer", data["id"])
    return consumer_view(consumer, viewer)


def create_restaurant(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data``: ``{id, name, address, currency?, orderMinimum?, acceptanceMode?, menu: [{id, name, price}]}``."""
    ids = [item["id"] for item in data.get("menu", [])]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidArgument(
            "a menu item id is listed twice", [Detail("menu", f"{i} listed twice") for i in duplicates]
        )
    try:
        with transaction.atomic():
            restaurant = Restaurant.objects.create(
                id=data["id"],
                name=data["name"],
                address=data["address"],
                currency=data.get("currency", "USD"),
                order_minimum=data.get("orderMinimum", Decimal("0")),
                acceptance_mode=data.get("acceptanceMode", Restaurant.AUTO),
            )
            MenuItem.objects.bulk_create(
                MenuItem(restaurant=restaurant, item_id=item["id"], name=item["name"], price=item["price"])
                for item in data.get("menu", [])
            )
    except IntegrityError:
        raise _exists("restaurant", data["id"])
    return restaurant_view(Restaurant.objects.prefetch_related("menu").get(pk=restaurant.pk))


def create_courier(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data``: ``{id, name, available?, completionMode?}``."""
    try:
        with transaction.atomic():
            courier = Courier.objects.create(
                id=data["id"],
                name=data["name"],
                available=data.get("available", True),
                completion_mode=data.get("completionMode", Courier.AUTO),
            )
    except IntegrityError:
        raise _exists("courier", data["id"])
    return courier_view(courier)


def set_courier_availability(courier_id: str, available: bool) -> dict[str, Any]:
    if not re.fullmatch(ID_PATTERN, courier_id):  # a malformed id in the URL, say with a NUL PostgreSQL refuses
        raise NotFound(f"courier {courier_id!r} not found")
    updated = Courier.objects.filter(pk=courier_id).update(available=available)
    if not updated:
        raise NotFound(f"courier {courier_id} not found")
    return courier_view(Courier.objects.get(pk=courier_id))
