"""The shards: an adapter boundary with a deterministic simulator as the default.

The engine passes the step's attempt number, so the simulator answers the same in the web process and in the
worker, and a replay asks nothing it was not asked before. A real index plugs in by ``TPFGO_SEARCH_SHARDS_BACKEND``
(a dotted path to a class with the same ``search`` method).

The simulator's failure tokens (a query's ``tokens``; docs/lanes.md has the table), each for one shard ``N``:

- ``shardN_flaky_K``: the shard is unavailable for the first K attempts (``ShardUnavailable``, retried);
- ``shardN_down``: the shard is unavailable on every attempt (the query parks once the retries are spent);
- ``shardN_slow``: the shard answers, but after ``SLOW_MS`` (60 s): past the merge's deadline, unless
  ``TPFGO_SEARCH_DEADLINE_MS`` is 60,000 or more (the merge is partial).

Several tokens for one shard add up (``_behaviour``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from pipelines import RetryableError

TOKEN = re.compile(r"^shard(?P<shard>[0-9]{1,2})_(?:flaky_(?P<times>[1-9])|(?P<kind>down|slow))$")
# A slow shard answers this late: past the merge's deadline (TPFGO_SEARCH_DEADLINE_MS, 250 ms by default) unless
# that is set to a minute or more.
SLOW_MS = 60_000
HITS_PER_TERM = 2


class ShardUnavailable(RetryableError):
    """A shard timed out or refused the connection: transient, retried with backoff."""

    code = "SEARCH_SHARD_UNAVAILABLE"


@dataclass(frozen=True)
class ShardAnswer:
    latency_ms: int
    hits: list[dict[str, Any]]  # {"docId": str, "score": int, "term": str}


class Shards(Protocol):
    def search(self, shard: int, terms: list[str], tokens: list[str], attempt: int) -> ShardAnswer: ...


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


class SimulatedShards:
    """Each shard holds, for every term, ``HITS_PER_TERM`` documents of its own, scored 0-999 from a hash of
    (shard, term, n): the same query always gets the same hits, and no two shards share a document."""

    def search(self, shard: int, terms: list[str], tokens: list[str], attempt: int) -> ShardAnswer:
        behaviour = _behaviour(shard, tokens)
        if behaviour.down or attempt <= behaviour.flaky:
            raise ShardUnavailable(f"shard {shard} unavailable (simulated, attempt {attempt})")
        hits = [
            {
                "docId": f"s{shard}-{_digest(shard, term, n) % 10**8:08d}",
                "score": _digest(term, n, shard) % 1000,
                "term": term,
            }
            for term in terms
            for n in range(HITS_PER_TERM)
        ]
        latency = SLOW_MS if behaviour.slow else 5 + _digest("latency", shard, *terms) % 95
        return ShardAnswer(latency_ms=latency, hits=hits)


@dataclass(frozen=True)
class Behaviour:
    down: bool = False
    flaky: int = 0  # unavailable for the first ``flaky`` attempts
    slow: bool = False


def _behaviour(shard: int, tokens: list[str]) -> Behaviour:
    """What the query's tokens make of the shard; several tokens for one shard add up: ``down`` on every attempt,
    else unavailable for the largest K of its ``flaky_K``, then an answer, late if ``slow`` is among them."""
    matches = [m for m in map(TOKEN.match, tokens) if m is not None and int(m["shard"]) == shard]
    return Behaviour(
        down=any(m["kind"] == "down" for m in matches),
        flaky=max((int(m["times"]) for m in matches if m["times"]), default=0),
        slow=any(m["kind"] == "slow" for m in matches),
    )


@cache
def _load(path: str) -> Shards:
    shards: Shards = import_string(path)()
    return shards


def backend() -> Shards:
    return _load(getattr(settings, "TPFGO_SEARCH_SHARDS_BACKEND", "search.shards.SimulatedShards"))
