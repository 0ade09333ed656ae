"""Delivery modes of a composition: the ``TPFGO_PUBLICATION_MODES`` override, the modes it resolves to, and their
contract rules (``E041``-``E043`` in docs/contracts.md).

A mode is how a publication's subscribers run, not what it carries: a queued handoff is checked like any other
(type, fields, version, awaits and branches), and the contracts lock does not record modes, so switching a
publication between ``sync`` and ``queue`` is a deployment choice that needs no lock update.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from pipelines.contracts.declarations import MODES, Composition, Mode, produced
from pipelines.contracts.problems import Problem

SETTING = "TPFGO_PUBLICATION_MODES"
ALL = "*"


class ModesInvalid(ImproperlyConfigured):
    """``TPFGO_PUBLICATION_MODES`` cannot be read."""


def parse(raw: str) -> dict[str, Mode]:
    """``name=queue,name2=sync``; ``*`` names every publication with subscribers. Blank: no override."""
    out: dict[str, Mode] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, mode = (s.strip() for s in part.partition("="))
        if not sep or not name:
            raise ModesInvalid(f"{SETTING} entry {part.strip()!r} is not name=mode (expected=name=sync|queue)")
        if mode not in MODES:
            raise ModesInvalid(
                f"{SETTING} gives {name!r} the mode {mode!r}, which is not a delivery mode "
                f"(expected=one of [sync, queue] actual={mode!r})"
            )
        if name in out:
            raise ModesInvalid(f"{SETTING} names {name!r} 2 times (expected=1 actual=2)")
        out[name] = "queue" if mode == "queue" else "sync"
    return out


@dataclass(frozen=True)
class Modes:
    """The delivery modes in force: the publications handed off through queues and the pipelines they feed."""

    queued: frozenset[str]
    pipelines: tuple[str, ...]  # subscribers of a queued publication, in the composition's order
    # each pipeline → those of ``pipelines`` that run after it in a trace (the queues its new work will feed)
    after: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def mode(self, publication: str) -> Mode:
        return "queue" if publication in self.queued else "sync"


def resolve(comp: Composition, raw: str) -> Modes:
    """Each subscribed publication's mode: its override, else the ``*`` override, else the declared one."""
    overrides = parse(raw)
    declared = {name: publication.mode for name, (_, publication) in comp.publications().items()}
    subscribed = {s.publication for s in comp.subscriptions}
    default = overrides.get(ALL)
    queued = frozenset(
        name for name in subscribed if overrides.get(name, default or declared.get(name, "sync")) == "queue"
    )
    fed = tuple(dict.fromkeys(s.pipeline for s in comp.subscriptions if s.publication in queued))
    return Modes(queued, fed, _fed_after(comp, fed) if fed else {})


def _fed_after(comp: Composition, fed: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """For each pipeline, the queue-fed pipelines reachable from it through subscriptions (itself included)."""
    nxt = {p.name: {s.name for pub in produced(p) for s in comp.subscribers(pub.name)} for p in comp.pipelines}
    out: dict[str, tuple[str, ...]] = {}
    for name in nxt:
        seen, todo = {name}, [name]
        while todo:
            for later in nxt.get(todo.pop(), set()) - seen:
                seen.add(later)
                todo.append(later)
        out[name] = tuple(p for p in fed if p in seen)
    return out


def mode_problems(comp: Composition, raw: str = "") -> Iterator[Problem]:
    """Declared modes that are not modes, overrides that cannot be read or name nothing, queues nobody reads."""
    published = comp.publications()
    subscribed = {s.publication for s in comp.subscriptions}
    for name, (pipeline, publication) in sorted(published.items()):
        if publication.mode not in MODES:
            yield Problem(
                "pipelines.E041",
                f"publication '{name}' (producer {pipeline.name}) declares the mode '{publication.mode}', which is "
                f"not a delivery mode (expected=one of [sync, queue] actual='{publication.mode}')",
                "Declare mode='sync' (the default: subscribers run in the caller's process) or mode='queue'.",
            )
    try:
        overrides = parse(raw)
    except ModesInvalid as exc:
        yield Problem("pipelines.E041", str(exc), f"Write {SETTING} as name=sync|queue, comma-separated (* for all).")
        return
    for name, mode in sorted(overrides.items()):
        if name != ALL and name not in published:
            close = difflib.get_close_matches(name, list(published), n=1)
            near = f"; did you mean '{close[0]}'?" if close else ""
            yield Problem(
                "pipelines.E042",
                f"{SETTING} names publication '{name}', which no pipeline of the composition produces "
                f"(expected=a produced publication actual='{name}'){near}",
                "Name publications as the composition declares them (with their .vN), or * for every one.",
            )
        elif name != ALL and mode == "queue" and name not in subscribed:
            yield _unread(name, published[name][0].name, f"{SETTING} queues it")
    for name, (pipeline, publication) in sorted(published.items()):
        if publication.mode == "queue" and name not in subscribed and name not in overrides:
            yield _unread(name, pipeline.name, "it is declared mode='queue'")


def _unread(name: str, producer: str, why: str) -> Problem:
    return Problem(
        "pipelines.E043",
        f"publication '{name}' (producer {producer}) is handed off through a queue ({why}), but no pipeline "
        f"subscribes to it (expected=at least 1 subscriber actual=0)",
        "Subscribe a pipeline to it, or leave it in mode 'sync' (a terminal publication hands off nothing).",
    )
