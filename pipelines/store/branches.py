"""Lineage branches: a fork re-runs a trace from a stored checkpoint on a branch of its own.

Every trace starts on ``MAIN_BRANCH``. A fork (``ForkedFrom``, whose id is the branch) starts a new branch after one
checkpoint of its parent branch. Its checkpoints carry the branch in their ids (``branch_id``) and in the column the
model declares (``Checkpoint.branch_field``, part of the business key), so a fork never meets the parent's rows.

What a branch sees (its *view*): its own rows, and each ancestor branch's rows logged up to the position where the
branch left it (``cutoffs``). The parent's rows logged after that are superseded on the view. A trace's *active*
branch is its newest fork's (the derived view shows it); a step sees the branch it runs on (``Running``).
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.apps import apps

from pipelines.contracts import ids
from pipelines.models import MAIN_BRANCH, Checkpoint, CheckpointLog, ForkedFrom
from pipelines.store import lookups, reads

C = TypeVar("C", bound=Checkpoint)

_running: contextvars.ContextVar[str | None] = contextvars.ContextVar("tpfgo_branch", default=None)


class Running:
    """While a step runs: its reads see ``branch``'s view.

    A class, not a ``contextlib.contextmanager`` function: every step of every order enters it, and a generator
    costs several calls more per use.
    """

    __slots__ = ("_branch", "_token")

    def __init__(self, branch: str) -> None:
        self._branch = branch

    def __enter__(self) -> None:
        self._token = _running.set(self._branch)

    def __exit__(self, *exc: object) -> None:
        _running.reset(self._token)


def current() -> str | None:
    """The branch of the step running now, or None outside a step."""
    return _running.get()


def branch_id(plain: uuid.UUID, branch: str) -> uuid.UUID:
    """A checkpoint id on ``branch``: the main branch keeps the plain id, a fork's is derived from it and the fork."""
    if branch == MAIN_BRANCH:
        return plain
    return ids.deterministic_id("branch", branch, str(plain))


def fork_id(trace_id: uuid.UUID, parent_branch: str, from_id: uuid.UUID, new_effect_keys: bool) -> uuid.UUID:
    """The same fork (same checkpoint, same branch, same effect-key choice) always gets the same id."""
    return ids.deterministic_id("fork", str(trace_id), parent_branch, str(from_id), int(new_effect_keys))


def forks(trace_id: uuid.UUID) -> list[ForkedFrom]:
    """The trace's forks, oldest first (a handful at most)."""
    # Asked once per order and request (a new order included): SQL built once, not compiled on every call.
    return lookups.rows(ForkedFrom, order_by=_OLDEST_FIRST, trace_id=trace_id)


_OLDEST_FIRST = ("created_at", "from_seq")


def look_up(trace_id: uuid.UUID) -> lookups.LookUp:
    """``forks``'s read, for a group of look-ups (``lookups.rows_together``)."""
    return (ForkedFrom, {"trace_id": trace_id}, _OLDEST_FIRST, None)


def known(opened: reads.Scope, trace_id: uuid.UUID) -> bool:
    """Whether the read scope holds the trace's forks."""
    return ("forks", str(trace_id)) in opened.memo


def found(opened: reads.Scope, trace_id: uuid.UUID, rows: list[ForkedFrom]) -> None:
    """The trace's forks, read by the caller with ``look_up``: the scope keeps them as ``_forks`` would."""
    opened.memo[("forks", str(trace_id))] = rows


def _forks(trace_id: uuid.UUID) -> list[ForkedFrom]:
    """The trace's forks, read once per request; inside a batch step, once for the whole batch; none read for a
    trace this request started (``started``)."""
    key = str(trace_id)
    opened = reads.current()
    if opened is not None:
        known: list[ForkedFrom] | None = opened.memo.get(("forks", key))
        if known is not None:
            return known
        if key in opened.key_set:
            batch = opened.keys
            return reads.step_memo("forks", lambda: _forks_of(batch)).get(key, [])
    return reads.memo(("forks", key), lambda: forks(trace_id))


def started(opened: reads.Scope, trace_ids: Iterable[uuid.UUID]) -> None:
    """Traces this request created (their ``Trace`` rows committed): they had no forks when it created them, so
    the request reads none (a fork made while the request runs shows from the next request on, as if it had
    been made just after this one)."""
    for trace_id in trace_ids:
        opened.memo[("forks", str(trace_id))] = []


def _forks_of(keys: Sequence[str]) -> dict[str, list[ForkedFrom]]:
    out: dict[str, list[ForkedFrom]] = {}
    for row in ForkedFrom.objects.filter(trace_id__in=list(keys)).order_by("created_at", "from_seq"):
        out.setdefault(str(row.trace_id), []).append(row)
    return out


def forget(trace_id: uuid.UUID) -> None:
    """A fork was just started: the request's memo of the trace's forks is out of date."""
    opened = reads.current()
    if opened is not None:
        opened.memo.pop(("forks", str(trace_id)), None)


def active(trace_id: uuid.UUID) -> str:
    """The branch the trace's derived view shows: its newest fork's, else the main branch."""
    found = _forks(trace_id)
    return found[-1].branch if found else MAIN_BRANCH


def view(trace_id: uuid.UUID) -> str:
    """The branch a read sees: the running step's, else the trace's active branch."""
    return current() or active(trace_id)


def cutoffs(trace_id: uuid.UUID, branch: str) -> dict[str, int | None]:
    """The branches ``branch`` sees, each with the last log position it sees (None: all of it, the branch itself)."""
    by_branch = {f.branch: f for f in _forks(trace_id)}
    seen: dict[str, int | None] = {branch: None}
    limit: int | None = None
    while branch in by_branch:
        fork = by_branch[branch]
        limit = fork.from_seq if limit is None else min(limit, fork.from_seq)
        branch = fork.parent_branch
        seen[branch] = limit
    return seen


def holds(trace_id: uuid.UUID, branch: str, other: str, seq: int) -> bool:
    """Whether ``branch``'s view holds ``other``'s log up to position ``seq``: it is ``other``, or a fork that
    descends from ``other`` after that position."""
    seen = cutoffs(trace_id, branch)
    if other not in seen:
        return False
    limit = seen[other]
    return limit is None or limit >= seq


def superseded(trace_id: uuid.UUID) -> set[str]:
    """Branches the active branch no longer shows whole: every branch but the active one."""
    every = {MAIN_BRANCH} | {f.branch for f in _forks(trace_id)}
    return every - {active(trace_id)}


def model_named(type_name: str) -> type[Checkpoint] | None:
    """The checkpoint model a log row names."""
    for model in apps.get_models():
        if model.__name__ == type_name and issubclass(model, Checkpoint):
            return model
    return None


def branches_of(rows: Sequence[CheckpointLog]) -> dict[uuid.UUID, str]:
    """Each logged checkpoint's branch, read from its own table (a model without a branch column is main): one
    query for every table the rows name (a probe per table, joined by UNION ALL), not one per table."""
    by_type: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        by_type.setdefault(row.checkpoint_type, []).append(row.checkpoint_id)
    out: dict[uuid.UUID, str] = {}
    probes = []
    for type_name, checkpoint_ids in by_type.items():
        model = model_named(type_name)
        column = model.branch_field if model is not None else None
        if model is None or column is None:
            out.update((pk, MAIN_BRANCH) for pk in checkpoint_ids)
            continue
        probes.append(model.objects.filter(pk__in=checkpoint_ids).order_by().values_list("pk", column))
    if probes:
        out.update(probes[0].union(*probes[1:], all=True) if len(probes) > 1 else probes[0])
    return out


def visible_log(trace_id: uuid.UUID, branch: str, rows: Sequence[CheckpointLog]) -> list[CheckpointLog]:
    """The log rows ``branch``'s view holds (all of them when the trace was never forked)."""
    if not _forks(trace_id):
        return list(rows)
    seen = cutoffs(trace_id, branch)
    of = branches_of(rows)
    out = []
    for row in rows:
        found = of.get(row.checkpoint_id, MAIN_BRANCH)
        if found in seen and (seen[found] is None or row.seq <= (seen[found] or 0)):
            out.append(row)
    return out


def pick(trace_id: uuid.UUID, branch: str, candidates: Iterable[C]) -> C | None:
    """Of one kind's rows for one key (one per branch), the one ``branch``'s view sees: its own, else an ancestor's
    logged before the fork (nearest ancestor first)."""
    rows = list(candidates)
    column = rows[0].branch_field if rows else None
    if not rows or column is None:
        return rows[0] if rows else None
    seen = cutoffs(trace_id, branch)
    mine = {getattr(row, column): row for row in rows}
    for candidate_branch, limit in seen.items():
        row = mine.get(candidate_branch)
        if row is None:
            continue
        if limit is None or _logged_at(trace_id, row.pk) <= limit:
            return row
    return None


def _logged_at(trace_id: uuid.UUID, checkpoint_id: Any) -> int:
    positions = reads.memo(
        ("log-positions", str(trace_id)),
        lambda: dict(CheckpointLog.objects.of_trace(trace_id).values_list("checkpoint_id", "seq")),
    )
    found = positions.get(checkpoint_id)
    if found is None:  # logged after the memo was read (this request inserted it): not before any fork
        logged = CheckpointLog.objects.of_trace(trace_id).filter(checkpoint_id=checkpoint_id)
        return int(logged.values_list("seq", flat=True).first() or 0)
    return int(found)


def branch_key(base: str, branch: str) -> str:
    """A key on ``branch``: ``base`` on the main branch (every key given before forks existed stays),
    ``<base>:<branch>`` off it, so a fork's key is never its parent's. A checkpoint's business key and an external
    effect's idempotency key both follow it."""
    return base if branch == MAIN_BRANCH else f"{base}:{branch}"


def effect_key(base: str, trace_id: uuid.UUID, branch: str | None = None) -> str:
    """The idempotency key an external effect sends: ``base`` on the main branch and on every fork that reuses its
    parent's keys (the default), ``<base>:<branch>`` from the nearest fork that opted in to keys of its own."""
    branch = branch or view(trace_id)
    if branch != MAIN_BRANCH:  # nearly every effect runs on main: no look-up of forks
        by_branch = {f.branch: f for f in _forks(trace_id)}
        while branch in by_branch and not by_branch[branch].new_effect_keys:
            branch = by_branch[branch].parent_branch
    return branch_key(base, branch)
