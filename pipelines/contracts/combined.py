"""Several domains' compositions run as one: the engine runs one ``Composition`` (``TPFGO_COMPOSITION``), and a
site that ships more than one domain (checkout and the search lane) points it at their combination.

Each domain keeps its own pipelines, subscriptions, terminal publications, retry guard and pause keys; the
combination only joins them. A pipeline or publication name both declare is refused here, before a composition
that hides one of them can run (the contract checks would report the duplicate producer too, later).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from pipelines.contracts.declarations import Composition


def combine(*parts: Composition) -> Composition:
    """One composition made of ``parts``; a retry guard or pause key is asked only for its own domain's items."""
    pipelines = tuple(p for part in parts for p in part.pipelines)
    _refuse_duplicates("pipeline", [p.name for p in pipelines])
    _refuse_duplicates("publication", [name for part in parts for name in part.publications()])
    owner = {p.name: part for part in parts for p in part.pipelines}

    def retry_guard(pipeline: str, trace_id: Any) -> str | None:
        main = pipeline.split("+", 1)[0]  # an optional branch's side pipeline ("<pipeline>+<branch>") is its own
        guard = owner[main].retry_guard if main in owner else None
        return guard(pipeline, trace_id) if guard is not None else None

    return Composition(
        pipelines=pipelines,
        subscriptions=tuple(s for part in parts for s in part.subscriptions),
        terminal=frozenset().union(*(part.terminal for part in parts)),
        retry_guard=retry_guard if any(part.retry_guard for part in parts) else None,
        pause_keys=_pause_keys(parts),
        pause_values=_pause_values(parts),
    )


def _refuse_duplicates(kind: str, names: list[str]) -> None:
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise ValueError(f"two compositions declare the same {kind}: {', '.join(twice)}")


def _pause_keys(parts: tuple[Composition, ...]) -> dict[str, Callable[[Any], str | None]]:
    """A pause key several domains name answers with the first domain that finds one in the input."""
    by_name: dict[str, list[Callable[[Any], str | None]]] = {}
    for part in parts:
        for name, key in part.pause_keys.items():
            by_name.setdefault(name, []).append(key)
    return {name: keys[0] if len(keys) == 1 else _first_of(keys) for name, keys in by_name.items()}


def _pause_values(parts: tuple[Composition, ...]) -> dict[str, Callable[[str], str]]:
    """A value of a key several domains name is one some domain answers: the first that takes it decides its form;
    a domain that names the key without checking its values takes any, so the key is then not checked."""
    by_name: dict[str, list[Callable[[str], str]]] = {}
    unchecked: set[str] = set()
    for part in parts:
        for name in part.pause_keys:
            check = part.pause_values.get(name)
            if check is None:
                unchecked.add(name)
            else:
                by_name.setdefault(name, []).append(check)
    return {
        name: checks[0] if len(checks) == 1 else _first_taking(checks)
        for name, checks in by_name.items()
        if name not in unchecked
    }


def _first_taking(checks: list[Callable[[str], str]]) -> Callable[[str], str]:
    def value(given: str) -> str:
        refusals = []
        for check in checks:
            try:
                return check(given)
            except ValueError as exc:
                refusals.append(str(exc))
        raise ValueError("; ".join(refusals))

    return value


def _first_of(keys: list[Callable[[Any], str | None]]) -> Callable[[Any], str | None]:
    def key(value: Any) -> str | None:
        for candidate in keys:
            found = candidate(value)
            if found is not None:
                return found
        return None

    return key
