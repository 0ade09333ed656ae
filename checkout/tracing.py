"""Which order a request belongs to before it runs, so its trace starts with the order's trace id.

An order's id is its trace id (``services.order_id_for``: derived from the Idempotency-Key), so a request that
names the order (its path) or the key (a create) is resolved without reading the database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from checkout import commands, services

_ORDER_PATH = re.compile(r"^/api/v1/orders/([0-9a-fA-F-]{32,36})(?:/|$)")
_CREATE = ("POST", "/api/v1/orders")


def order_trace(method: str, path: str, header: Callable[[str], str | None]) -> uuid.UUID | None:
    named = _ORDER_PATH.match(path)
    if named:
        try:
            return uuid.UUID(named.group(1))
        except ValueError:
            return None
    if (method, path.rstrip("/")) != _CREATE and path:  # gRPC carries no path here: its metadata only
        return None
    key = header("idempotency-key")
    if key is None or not commands.KEY_PATTERN.match(key):
        return None
    return services.order_id_for(key)
