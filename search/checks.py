"""The lane's settings, checked before anything runs (``manage.py check``, and so ``migrate`` under ``make run``).

A value outside these bounds is accepted by no query: no shard (0) makes every fan-out an empty split, a shard past
99 cannot be named by a simulator token, a deadline below 1 ms misses every shard and no result kept answers nothing.
A shards' backend that cannot be imported would fail every fan-out.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

BOUNDS = {
    "TPFGO_SEARCH_SHARDS": (1, 99),
    "TPFGO_SEARCH_DEADLINE_MS": (1, None),
    "TPFGO_SEARCH_TOP_K": (1, None),
}


def check_settings(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    for name, (low, high) in BOUNDS.items():
        value = getattr(settings, name)
        if isinstance(value, int) and value >= low and (high is None or value <= high):
            continue
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        problems.append(
            checks.Error(f"{name} is {value!r}", hint=f"Set {name} to an integer {allowed}.", id="search.E001")
        )
    backend = settings.TPFGO_SEARCH_SHARDS_BACKEND
    try:
        import_string(backend)
    except ImportError as exc:
        problems.append(
            checks.Error(
                f"TPFGO_SEARCH_SHARDS_BACKEND {backend!r} cannot be imported: {exc}",
                hint="Set it to the dotted path of a class with the shards' search method (search/shards.py).",
                id="search.E002",
            )
        )
    return problems
