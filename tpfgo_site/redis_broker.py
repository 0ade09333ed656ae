"""kombu's Redis transport, with one contained fix: a worker outlives a restart of its Redis broker.

When the broker goes away, Celery's consumer first ``collect()``s the broken connection and then closes it. On
the Redis transport the channel's ``close()`` fails there before the channel is marked closed (its pending
``BRPOP`` read, then the delete of its auto-delete fanout queues, meet the dead broker: connection errors, which
the close ignores), and ``collect()`` detaches the transport from the connection (``transport.client = None``).
The consumer's own close then closes the channel again, this time up to the restore of the worker's
unacknowledged messages (an ``eta`` retry is held unacknowledged), with a new Redis client whose parameters are
read from that detached ``client``: ``AttributeError: 'NoneType' object has no attribute 'hostname'``, which is
not a connection error, so the worker exits (kombu 5.7, celery 5.7, redis-py 8.1;
``tests/integration/test_broker_restart.py``).

Here the client's parameters of a detached transport raise a connection error instead, which is what the restore
meets whenever Redis cannot be reached: the close goes on, the consumer reconnects, and the worker keeps serving.
The messages it held unacknowledged stay in Redis's unacknowledged set, and come back after the visibility
timeout if Redis kept them; if Redis lost them, the sweeper re-enqueues what is due from the database
(docs/operations.md, "Brokers").

``tpfgo_site/settings.py`` names this transport for ``redis://`` and ``rediss://`` broker URLs
(``CELERY_BROKER_TRANSPORT``); on ``rediss://`` it also asks for a verified certificate (``CELERY_BROKER_USE_SSL``).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # the transport was detached from its connection (``collect()``)
            raise RedisConnectionError("the broker connection was closed; no new Redis client from it")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]


class Transport(kombu_redis.Transport):
    Channel = Channel
