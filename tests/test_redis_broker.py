"""TPFGo's Redis transport (``tpfgo_site/redis_broker.py``) against kombu's own, at the one point they differ.

``Connection.collect()`` leaves the transport detached (``transport.client = None``); a channel that then makes a
new Redis client (to restore unacknowledged messages on close) meets a connection error on TPFGo's transport, the
error a close ignores, and an ``AttributeError`` on kombu's, which took the worker down
(``tests/integration/test_broker_restart.py`` restarts a real Redis under a real worker). The second half is a
canary: the day kombu fixes it, it fails, and the contained fix can go.
"""

from __future__ import annotations

import os

import pytest
import redis
from kombu import Connection
from kombu.transport import redis as kombu_redis

from tpfgo_site.redis_broker import Transport

REDIS_URL = os.environ.get("TPFGO_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture(autouse=True)
def _redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")


@pytest.mark.parametrize(
    ("transport", "error"),
    [(Transport, redis.exceptions.ConnectionError), (kombu_redis.Transport, AttributeError)],
    ids=["tpfgo", "kombu"],
)
def test_a_channel_of_a_detached_transport_cannot_make_a_client(transport: type, error: type[Exception]) -> None:
    connection = Connection(REDIS_URL, transport=transport)
    channel = connection.channel()
    client, connection.transport.client = connection.transport.client, None  # what collect() leaves
    try:
        with pytest.raises(error):
            channel._get_pool()
    finally:
        connection.transport.client = client
        connection.release()
