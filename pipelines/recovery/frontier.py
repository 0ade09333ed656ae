"""The sweeper's frontier from the composition: the flow rules its triggers read, its install and its check.

``pipelines.store.open_positions`` keeps the open positions by triggers that know the flow only as ``FlowRule``
rows; this module writes those rows from the composition in force (``downstream`` and the terminal publications,
the same the sweeper judges by) and says whether the rows in the database are still that composition's. The
sweeper reads the frontier only while they are (``in_force``); otherwise (a composition changed without a migrate)
it scans the log's window as before, slower and as exact, and the system check ``pipelines.W044`` says so. The
rules carry a fingerprint row (a digest of the others), so the sweeper's one query can tell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from django.core import checks
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from pipelines.contracts.declarations import Composition, produced
from pipelines.engine.registry import composition
from pipelines.models import FlowRule
from pipelines.store import open_positions


def downstream(comp: Composition) -> dict[str, frozenset[str]]:
    """Each pipeline with the pipelines that run after it in a trace: itself and, transitively, the subscribers
    of what it publishes. A newer row of one of these means the trace went on from the pipeline's row; a newer row
    of any other pipeline (a cancellation request, an ops action) does not."""
    after = {p.name: {s.name for pub in produced(p) for s in comp.subscribers(pub.name)} for p in comp.pipelines}
    out: dict[str, frozenset[str]] = {}
    for name in after:
        seen, todo = {name}, [name]
        while todo:
            for nxt in after[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        out[name] = frozenset(seen)
    return out


def rules(comp: Composition) -> frozenset[open_positions.Rule]:
    """The composition's flow as rows: each pipeline with those whose newer rows mean its trace went on, the
    terminal publications, and the fingerprint of them all (what the sweeper's query looks for)."""
    after = {(FlowRule.AFTER, name, other) for name, others in downstream(comp).items() for other in others}
    flow = after | {(FlowRule.TERMINAL, publication, "") for publication in comp.terminal}
    return frozenset(flow | {(FlowRule.FINGERPRINT, _digest(flow), "")})


def fingerprint(comp: Composition) -> str:
    return next(name for kind, name, _ in rules(comp) if kind == FlowRule.FINGERPRINT)


def _digest(flow: set[open_positions.Rule]) -> str:
    return hashlib.sha256(json.dumps(sorted(flow)).encode()).hexdigest()


def install(connection: BaseDatabaseWrapper) -> None:
    """Write the composition's rules, (re)create the triggers, rebuild the frontier from the log."""
    open_positions.install(connection, rules(composition()))


def rebuild(using: str = "default") -> None:
    """Rules, triggers and the frontier rebuilt from the log, whether or not they looked current."""
    open_positions.install(connections[using], rules(composition()), force=True)


def in_force(comp: Composition, using: str = "default") -> bool:
    """The database's flow rules are this composition's: the frontier can be read (what ``candidates`` checks in
    its own query)."""
    try:
        return open_positions.read_rules(using) == rules(comp)
    except DatabaseError:  # the table is not there yet (a database behind its migrations)
        return False


def check(
    app_configs: object = None, databases: Sequence[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """System check (database tag): the frontier's triggers are installed (E041) and its rules are the
    composition's (W041: the sweeper falls back to scanning the log's window)."""
    problems = open_positions.TRIGGERS.check(databases, "sweeper-frontier", "pipelines.E044")
    for alias in databases or []:
        if not problems and open_positions.TRIGGERS.tables <= set(connections[alias].introspection.table_names()):
            if not in_force(composition(), alias):
                problems.append(
                    checks.Warning(
                        f"the sweeper's flow rules on {alias} are not the composition's",
                        hint="Run 'manage.py migrate' (it rewrites them and rebuilds the frontier); until then "
                        "each sweep scans the log's window.",
                        id="pipelines.W044",
                    )
                )
    return problems
