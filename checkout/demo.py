"""The demo data set: auto restaurants and couriers (an order runs 01→08 in one request), plus one manual
restaurant and one manual courier (created unavailable, so it is never picked by default)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from checkout.models import Consumer, Courier, MenuItem, Restaurant

RESTAURANTS = [
    (
        "ajanta",
        "Ajanta",
        "1 Curry Lane, Oakland, CA",
        "USD",
        "10.00",
        "auto",
        [
            ("chicken-vindaloo", "Chicken Vindaloo", "12.50"),
            ("samosa", "Samosa", "5.25"),
            ("naan", "Garlic Naan", "3.50"),
            ("lassi", "Mango Lassi", "4.00"),
        ],
    ),
    (
        "pizza-roma",
        "Pizza Roma",
        "22 Via Roma, San Francisco, CA",
        "USD",
        "0.00",
        "auto",
        [
            ("margherita", "Margherita", "11.00"),
            ("pepperoni", "Pepperoni", "13.50"),
            ("tiramisu", "Tiramisu", "6.75"),
        ],
    ),
    (
        "sushi-kaiten",
        "Sushi Kaiten",
        "8 Harbor Way, Berkeley, CA",
        "USD",
        "20.00",
        "auto",
        [
            ("salmon-nigiri", "Salmon Nigiri", "6.50"),
            ("dragon-roll", "Dragon Roll", "15.00"),
            ("miso", "Miso Soup", "3.00"),
            ("omakase", "Omakase", "95.00"),
        ],
    ),
    (
        "chez-manuel",
        "Chez Manuel (accepts by hand)",
        "5 Rue Lente, Oakland, CA",
        "USD",
        "0.00",
        "manual",
        [
            ("omelette", "Omelette", "9.50"),
            ("crepe", "Crêpe", "7.25"),
        ],
    ),
]
CONSUMERS = [
    ("alice", "Alice Adams", True, ""),
    ("bob", "Bob Brown", True, "tok_ok"),
    ("carol", "Carol Inactive", False, ""),
    ("dave", "Dave Review", True, "tok_review"),
]
COURIERS = [
    ("courier-ann", "Ann", True, "auto"),
    ("courier-ben", "Ben", True, "auto"),
    ("courier-max", "Max (confirms by hand)", False, "manual"),
]


@transaction.atomic
def load() -> dict[str, int]:
    """Create or refresh the demo rows; running it twice changes nothing."""
    for rid, name, address, currency, minimum, mode, menu in RESTAURANTS:
        restaurant, _ = Restaurant.objects.update_or_create(
            id=rid,
            defaults={
                "name": name,
                "address": address,
                "currency": currency,
                "order_minimum": Decimal(minimum),
                "acceptance_mode": mode,
            },
        )
        for item_id, item_name, price in menu:
            MenuItem.objects.update_or_create(
                restaurant=restaurant, item_id=item_id, defaults={"name": item_name, "price": Decimal(price)}
            )
    for cid, name, active, token in CONSUMERS:
        Consumer.objects.update_or_create(id=cid, defaults={"name": name, "active": active, "payment_token": token})
    for cid, name, available, mode in COURIERS:
        Courier.objects.update_or_create(
            id=cid, defaults={"name": name, "available": available, "completion_mode": mode}
        )
    return {
        "restaurants": Restaurant.objects.count(),
        "consumers": Consumer.objects.count(),
        "couriers": Courier.objects.count(),
        "menu_items": MenuItem.objects.count(),
    }
