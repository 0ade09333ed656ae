"""Imported at start by a process whose PYTHONPATH names this folder (tests/integration/test_broker_restart.py's
long-outage test): kombu tries a lost broker again every 0.02 s instead of after 2 s growing to 30 s, so a worker
spends Celery's reconnection budget (``broker_connection_max_retries``, 100 tries by default: some 47 minutes of a
Redis outage) in seconds. Only the waits between tries change; every try is a real connection to the real port."""

from __future__ import annotations

import functools
from typing import Any

from kombu import connection

_ensure = connection.Connection.ensure_connection


@functools.wraps(_ensure)
def ensure_connection(self: Any, errback: Any = None, max_retries: Any = None, *args: Any, **kwargs: Any) -> Any:
    kwargs.update(interval_start=0.02, interval_step=0, interval_max=0.02)
    return _ensure(self, errback, max_retries, **kwargs)


connection.Connection.ensure_connection = ensure_connection  # type: ignore[method-assign]
