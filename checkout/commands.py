"""Validation and canonical form of the place-order and revise-order commands, the same for JSON and protobuf.

"Same request" means the same canonical command: the request's own fields only (an absent optional field
stays absent, an empty string counts as absent), normalized (field order, decimal and time forms).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from django.utils.dateparse import parse_datetime

from checkout import selectors
from pipelines.status import Detail, InvalidArgument

KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TOP_FIELDS = {"consumerId", "restaurantId", "items", "deliveryAddress", "deliveryTime", "paymentToken"}
ADDRESS_FIELDS = {"street1", "street2", "city", "state", "zip"}
MAX_LINES = 100


def check_key(key: str | None) -> str:
    if key is None or not KEY_PATTERN.match(key):
        raise InvalidArgument(
            "Idempotency-Key is required: 1-128 characters of A-Za-z0-9._:-",
            [Detail("Idempotency-Key", "missing or malformed")],
        )
    return key


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _text(data: Mapping[str, Any], name: str, path: str, problems: list[Detail], *, required: bool) -> str | None:
    value = data.get(name)
    if not _present(value):
        if required:
            problems.append(Detail(path, "is required"))
        return None
    if not isinstance(value, str) or len(value) > 300:
        problems.append(Detail(path, "must be a string of at most 300 characters"))
        return None
    return value


def canonical(data: Any) -> dict[str, Any]:
    """The validated, normalized command; raises InvalidArgument naming every bad field at once."""
    if not isinstance(data, Mapping):
        raise InvalidArgument("the request body must be a JSON object", [Detail("body", "not an object")])
    problems: list[Detail] = [Detail(name, "unknown field") for name in sorted(set(data) - TOP_FIELDS)]
    command: dict[str, Any] = {}
    for name in ("consumerId", "restaurantId"):
        value = _text(data, name, name, problems, required=True)
        if value is not None:
            command[name] = value
    command["items"] = _items(data.get("items"), problems)
    command["deliveryAddress"] = _address(data.get("deliveryAddress"), problems)
    if _present(data.get("deliveryTime")):
        command["deliveryTime"] = _time(data["deliveryTime"], problems)
    token = _text(data, "paymentToken", "paymentToken", problems, required=False)
    if token is not None:
        command["paymentToken"] = token
    if not problems:
        _references(command, problems)
    if problems:
        raise InvalidArgument("the order is invalid", problems)
    return command


def revision(data: Any, restaurant_id: str) -> dict[str, Any]:
    """The validated revision command: the full new list of items, checked like an order's."""
    if not isinstance(data, Mapping):
        raise InvalidArgument("the request body must be a JSON object", [Detail("body", "not an object")])
    problems: list[Detail] = [Detail(name, "unknown field") for name in sorted(set(data) - {"items"})]
    items = _items(data.get("items"), problems)
    if not problems:
        _menu_items(restaurant_id, items, problems)
    if problems:
        raise InvalidArgument("the revision is invalid", problems)
    return {"items": items}


def _items(items: Any, problems: list[Detail]) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        problems.append(Detail("items", "must be a non-empty list"))
        return []
    if len(items) > MAX_LINES:
        problems.append(Detail("items", f"at most {MAX_LINES} lines"))
        return []
    out, seen = [], set()
    for n, item in enumerate(items):
        path = f"items[{n}]"
        if not isinstance(item, Mapping):
            problems.append(Detail(path, "must be an object"))
            continue
        problems.extend(Detail(f"{path}.{k}", "unknown field") for k in sorted(set(item) - {"menuItemId", "quantity"}))
        menu_item = _text(item, "menuItemId", f"{path}.menuItemId", problems, required=True)
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 99:
            problems.append(Detail(f"{path}.quantity", "must be an integer from 1 to 99"))
        if menu_item is not None and menu_item in seen:
            problems.append(Detail(f"{path}.menuItemId", "menu item listed twice"))
        seen.add(menu_item)
        out.append({"menuItemId": menu_item, "quantity": quantity})
    return out


def _address(address: Any, problems: list[Detail]) -> dict[str, str]:
    if not isinstance(address, Mapping):
        problems.append(Detail("deliveryAddress", "must be an object"))
        return {}
    problems.extend(Detail(f"deliveryAddress.{k}", "unknown field") for k in sorted(set(address) - ADDRESS_FIELDS))
    out = {}
    for name in ("street1", "street2", "city", "state", "zip"):
        value = _text(address, name, f"deliveryAddress.{name}", problems, required=name != "street2")
        if value is not None:
            out[name] = value
    return out


def _time(value: Any, problems: list[Detail]) -> str | None:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        problems.append(Detail("deliveryTime", "must be an ISO-8601 time with a zone"))
        return None
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _references(command: dict[str, Any], problems: list[Detail]) -> None:
    # Through the selectors: inside a request's read scope the chain reuses these rows instead of reading again.
    if selectors.consumer(command["consumerId"]) is None:
        problems.append(Detail("consumerId", "unknown consumer"))
    restaurant = selectors.restaurant(command["restaurantId"])
    if restaurant is None:
        problems.append(Detail("restaurantId", "unknown restaurant"))
        return
    _menu_items(restaurant.pk, command["items"], problems)


def _menu_items(restaurant_id: str, items: list[dict[str, Any]], problems: list[Detail]) -> None:
    menu = selectors.menu(restaurant_id)
    for n, item in enumerate(items):
        if item["menuItemId"] not in menu:
            problems.append(Detail(f"items[{n}].menuItemId", "unknown menu item"))


def command_hash(command: Mapping[str, Any]) -> str:
    text = json.dumps(command, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
