"""A consumer with recognisable personal data, and a scan of every table's text for it (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection

from checkout import commands
from checkout.models import Consumer
from pipelines import current_engine
from tests.checkout.conftest import order_body

NAME = "Zephyrine Quackenbush"
ADDRESS = {
    "street1": "17 Xylophone Alley",
    "street2": "Flat Qz9",
    "city": "Quuxborough",
    "state": "ZQ",
    "zip": "99871-ZQX",
}
NOTE = "Leave it with Mrs Vondracek"
# Every piece of personal text the tests look for; none is a word the project uses anywhere else, nor text that
# appears by chance (a bare "99871" did: inside a timestamp's microseconds in django_migrations, CI on 2026-12-05).
PERSONAL = ("Zephyrine", "Quackenbush", "Xylophone", "Flat Qz9", "Quuxborough", "99871-ZQX", "Vondracek")


def make_consumer(consumer_id: str = "zed") -> Consumer:
    return Consumer.objects.create(id=consumer_id, name=NAME)


def personal_body(consumer_id: str = "zed", **extra: Any) -> dict[str, Any]:
    return order_body(consumer=consumer_id, deliveryAddress=dict(ADDRESS), **extra)


def found_in(text: str, pieces: tuple[str, ...] = PERSONAL) -> list[str]:
    return [piece for piece in pieces if piece in text]


def tables_holding_personal_text(pieces: tuple[str, ...] = PERSONAL) -> dict[str, list[str]]:
    """Every table of the database whose rows, as text, hold one of ``pieces``: {table: pieces}."""
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            if connection.vendor == "postgresql":
                cursor.execute(f"SELECT t::text FROM {quoted} t")  # the whole row, every column, as text
            else:
                cursor.execute(f"SELECT * FROM {quoted}")
            text = "\n".join(" ".join(_text(value) for value in row) for row in cursor.fetchall())
            if held := found_in(text, pieces):
                found[table] = held
    return found


def _text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


@contextmanager
def captured_logs() -> Iterator[Callable[[], str]]:
    """Every log line any logger writes while inside, at every level, formatted as the settings format them."""
    configured = next(h for h in logging.getLogger().handlers if h.name == "stdout")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(configured.formatter)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.flush()
        sys.stdout.flush()


def as_text(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def placed_by_an_older_version(body: dict[str, Any], key: str, *, address_sealed: bool) -> None:
    """The order as a version before the payment token (and, unless ``address_sealed``, the address) was sealed
    placed it: the command hashed, and stored, with those values in clear."""
    command = commands.canonical(body)
    command["paymentToken"] = body["paymentToken"]
    if not address_sealed:
        command["deliveryAddress"] = dict(ADDRESS)
    payload = {**command, "requestId": key, "commandHash": commands.command_hash(command)}
    current_engine().start("checkout", payload, key, new=True)
