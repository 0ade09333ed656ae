"""The lineage picture of one trace (for checkout, one order): every checkpoint across pipelines, every edge.

The graph comes from the checkpoint log (nodes, in insertion order) and the lineage links (edges, so a merge
shows all N parents), plus the parked items of the trace, hung beside the checkpoint they stopped after.
``layout`` places it for an inline SVG: one row per step run (a split's children share a row), each run of
rows of one pipeline inside its own band. Beside the picture: the trace's failed attempts (error-sink entries)
and waits. On a forked trace every one of them says its lineage branch, and whether the order's view still shows
it (``Branches``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from opsconsole import selectors
from pipelines import composition, storage
from pipelines.models import (
    MAIN_BRANCH,
    Checkpoint,
    CheckpointLog,
    ErrorSinkEntry,
    LineageLink,
    ParkedItem,
    ParkingOutcome,
    WaitEnded,
    WaitOpened,
)

# Attributes that say which way a decision went; shown on the node.
DECISION_FIELDS = (
    "decided_by",
    "claimed_by",
    "variant",
    "outcome",
    "reason",
    "task_name",
    "courier_id",
    "decline_code",
    "approved",
    "resolution_action",
    "failure_code",
    "risk_band",
)
TERMINAL_TYPES = frozenset({"TerminalOrderState", "OrderCancelled", "OrderRejected", "CancellationRefused"})
NODE_W, NODE_H, HGAP, VGAP, GUTTER, LANE, TOP = 236, 50, 22, 30, 180, 12, 16
PALETTE = ("#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#c05621", "#2c7a7b", "#b83280", "#4a5568")


@dataclass
class Node:
    id: str
    type: str
    pipeline: str
    step: str
    detail: str
    href: str | None
    kind: str  # checkpoint | outcome | aux | terminal | parked | dead | resolved
    created_at: Any = None
    branch: str = MAIN_BRANCH
    superseded: bool = False  # on a branch the order's view no longer shows (a fork replaced it)
    color: str = "#4a5568"
    x: int = 0
    y: int = 0
    row: int = 0


@dataclass
class Edge:
    path: str
    kind: str  # flow | aux (into an aux branch's checkpoint) | stop


@dataclass
class Band:
    pipeline: str
    color: str
    x: int
    y: int
    width: int
    height: int


@dataclass
class Picture:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Branches:
    """What a forked trace's view shows: its active branch, each branch that view is made of with the last log
    position it shows of it (None: all of it, the active branch), and each checkpoint's log position. A never-forked
    trace: all of ``main``."""

    active: str = MAIN_BRANCH
    seen: dict[str, int | None] = field(default_factory=lambda: {MAIN_BRANCH: None})
    logged: dict[str, int] = field(default_factory=dict)

    @property
    def forked(self) -> bool:
        return self.active != MAIN_BRANCH

    def superseded(self, branch: str, input_ids: list[str]) -> bool:
        """A parked item, failed attempt or wait the view no longer shows: on a branch it is not made of, or on an
        ancestor branch at a step after where the view leaves it (its input is the fork point or later: the fork
        ran that step again on its own branch)."""
        if branch not in self.seen:
            return True
        limit = self.seen[branch]
        return limit is not None and any(self.logged.get(i, -1) >= limit for i in input_ids)


@dataclass(frozen=True)
class Attempt:
    """One failed attempt of the trace (an error-sink entry), with its branch."""

    id: str
    pipeline: str
    step: str
    attempt: int
    error_code: str
    created_at: Any
    href: str | None
    branch: str
    superseded: bool


@dataclass(frozen=True)
class Waiting:
    """One wait the trace opened (a step that answered ``AWAIT``), open or ended, with its branch."""

    id: str
    pipeline: str
    step: str
    opened_at: Any
    due_at: Any
    ended: str  # the last round's outcome, or empty while it waits
    branch: str
    superseded: bool


def checkpoint_model(name: str) -> type[Checkpoint] | None:
    for model in apps.get_models():
        if model.__name__ == name and issubclass(model, Checkpoint):
            return model
    return None


def admin_url(model: type[Any], pk: object) -> str | None:
    try:
        return reverse(f"ops:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return None


def _outcome_types() -> set[str]:
    return {m.__name__ for p in composition().pipelines for s in p.steps for m in s.outcomes}


def _aux_types() -> set[str]:
    """Checkpoint types written as aux branches beside a primary (docs/architecture.md, "The branch policy")."""
    return {b.model.__name__ for p in composition().pipelines for s in p.steps for b in s.side_outputs}


def _kind(checkpoint_type: str, outcomes: set[str], aux: set[str]) -> str:
    if checkpoint_type in TERMINAL_TYPES:
        return "terminal"
    if checkpoint_type in outcomes:
        return "outcome"
    return "aux" if checkpoint_type in aux else "checkpoint"


def _details(rows: list[CheckpointLog]) -> dict[str, tuple[str, str | None]]:
    """Checkpoint id → (decision summary, link to its row), one query per checkpoint type."""
    by_type: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        by_type.setdefault(row.checkpoint_type, []).append(row.checkpoint_id)
    out: dict[str, tuple[str, str | None]] = {}
    for name, ids in by_type.items():
        model = checkpoint_model(name)
        if model is None:
            continue
        names = [f for f in DECISION_FIELDS if any(x.name == f for x in model._meta.concrete_fields)]
        for obj in model.objects.filter(pk__in=ids):
            values = [f"{f}={getattr(obj, f)}" for f in names if getattr(obj, f) not in (None, "")]
            out[str(obj.pk)] = (" ".join(values), admin_url(model, obj.pk))
    return out


def _parked_nodes(trace_id: uuid.UUID) -> list[tuple[Node, list[str]]]:
    """Every parked item of the trace as a node, with the checkpoint ids it hangs from."""
    out = []
    for parked in ParkedItem.objects.filter(trace_id=trace_id).order_by("created_at"):
        latest = parked.outcomes.order_by("-id").first()
        entries = ErrorSinkEntry.objects.filter(pipeline=parked.pipeline, item_id=parked.item_id, branch=parked.branch)
        last = entries.order_by("-attempt").only("error_class", "error_code", "retryable").first()
        dead = latest is not None and latest.outcome == ParkingOutcome.DEAD_LETTERED
        state = "parked" if latest is None else "dead" if dead else "resolved"
        # A dead letter whose redrive a paused step holds waits for the resume, as the dashboard counts it.
        held = selectors.open_hold(parked) if latest is None or dead else None
        if held is not None:
            state = "parked"
        words = {
            "parked": f"held by a pause: {held.pause.reason}{' (a redrive of its dead letter)' if dead else ''}"
            if held
            else "parked, retrying",
            "dead": f"dead letter ({latest.reason if latest else ''})",
            "resolved": f"{latest.outcome if latest else ''}",
        }[state]
        code = last.error_code if last else ""
        detail = f"{words} · {entries.count()} failed attempt(s) · {code}"
        anchors = [str(i) for i in (parked.merge_ids or [parked.item_id])]
        node = Node(
            id=str(parked.pk),
            type=f"stopped at {parked.step}",
            pipeline=parked.pipeline,
            step=parked.step,
            detail=detail,
            href=admin_url(ParkedItem, parked.pk),
            kind=state,
            created_at=parked.created_at,
            branch=parked.branch,
        )
        out.append((node, anchors))
    return out


def build(trace_id: uuid.UUID, highlight: str | None = None) -> Picture:
    """The trace's graph, laid out."""
    return build_with_branches(trace_id)[0]


def build_with_branches(trace_id: uuid.UUID) -> tuple[Picture, Branches]:
    """The trace's graph, laid out, and what its view shows (for the rows listed beside it)."""
    rows = list(CheckpointLog.objects.of_trace(trace_id).order_by("seq"))
    parents: dict[str, list[str]] = {}
    # The trace's links (the unique edge index leads with its number), for the checkpoints the log lists.
    links = LineageLink.objects.of_trace(trace_id).filter(child_id__in=[row.checkpoint_id for row in rows])
    for link in links.order_by("ordinal"):
        parents.setdefault(str(link.child_id), []).append(str(link.parent_id))
    details = _details(rows)
    outcomes, aux = _outcome_types(), _aux_types()
    nodes: list[Node] = []
    for row in rows:
        key = str(row.checkpoint_id)
        detail, href = details.get(key, ("", None))
        kind = _kind(row.checkpoint_type, outcomes, aux)
        nodes.append(Node(key, row.checkpoint_type, row.pipeline, row.step, detail, href, kind, row.created_at))
    view = _mark_branches(trace_id, rows, nodes)
    parked = _parked_nodes(trace_id)
    for node, anchors in parked:
        node.superseded = view.superseded(node.branch, anchors)
    return layout(nodes, parents, parked), view


def _mark_branches(trace_id: uuid.UUID, rows: list[CheckpointLog], nodes: list[Node]) -> Branches:
    """A forked trace: each node's branch, and which nodes the trace's view no longer shows (superseded)."""
    active = storage.active_branch(trace_id)  # the newest fork's branch: the main branch only when never forked
    if active == MAIN_BRANCH:
        return Branches()
    of = storage.branches_of(rows)
    shown = {str(row.checkpoint_id) for row in storage.visible_log(trace_id, active, rows)}
    for node in nodes:
        node.branch = of.get(uuid.UUID(node.id), MAIN_BRANCH)
        node.superseded = node.id not in shown
    by_branch = {fork.branch: fork for fork in storage.forks(trace_id)}
    seen: dict[str, int | None] = {active: None}
    branch, limit = active, None
    while branch in by_branch:  # up the forks: each ancestor shown up to the nearest fork point below it
        fork = by_branch[branch]
        limit = fork.from_seq if limit is None else min(limit, fork.from_seq)
        branch = fork.parent_branch
        seen[branch] = limit
    return Branches(active, seen, {str(row.checkpoint_id): row.seq for row in rows})


ATTEMPTS_SHOWN = 50  # a trace's failed attempts listed on its page, newest first


def failed_attempts(trace_id: uuid.UUID, view: Branches) -> list[Attempt]:
    """The trace's newest failed attempts (the sink's ``trace_id`` index), each with its branch."""
    entries = ErrorSinkEntry.objects.filter(trace_id=trace_id).order_by("-created_at", "-attempt")
    fields = ("id", "pipeline", "step", "item_id", "attempt", "error_code", "branch", "created_at")
    return [
        Attempt(
            id=str(e.pk),
            pipeline=e.pipeline,
            step=e.step,
            attempt=e.attempt,
            error_code=e.error_code,
            created_at=e.created_at,
            href=admin_url(ErrorSinkEntry, e.pk),
            branch=e.branch,
            superseded=view.superseded(e.branch, [str(e.item_id)]),
        )
        for e in entries.only(*fields)[:ATTEMPTS_SHOWN]
    ]


def waits(trace_id: uuid.UUID, view: Branches) -> list[Waiting]:
    """The waits the trace opened (a few: only awaiting steps write them), oldest first, each with its branch and
    how its last round ended."""
    opened = list(WaitOpened.objects.filter(trace_id=trace_id).order_by("opened_at"))
    ends: dict[uuid.UUID, str] = {}
    for end in WaitEnded.objects.filter(wait_id__in=[w.pk for w in opened]).order_by("round"):
        ends[end.wait_id] = end.outcome if end.next_due_at is None else ""
    return [
        Waiting(
            id=str(w.pk),
            pipeline=w.pipeline,
            step=w.step,
            opened_at=w.opened_at,
            due_at=w.due_at,
            ended=ends.get(w.pk, ""),
            branch=w.branch,
            superseded=view.superseded(w.branch, [str(w.item_id)]),
        )
        for w in opened
    ]


def _rows(nodes: list[Node], parents: dict[str, list[str]]) -> list[list[Node]]:
    """Consecutive nodes of one step run with the same parents (a split's children) share a row."""
    grouped: list[list[Node]] = []
    for node in nodes:
        last = grouped[-1][-1] if grouped else None
        same_run = last is not None and (last.pipeline, last.step, last.type) == (node.pipeline, node.step, node.type)
        if same_run and last is not None and parents.get(last.id) == parents.get(node.id):
            grouped[-1].append(node)
        else:
            grouped.append([node])
    return grouped


def layout(nodes: list[Node], parents: dict[str, list[str]], parked: list[tuple[Node, list[str]]]) -> Picture:
    grouped = _rows(nodes, parents)
    by_id = {n.id: n for n in nodes}
    orphans = [node for node, anchors in parked if not any(a in by_id for a in anchors)]
    offset = len(orphans)
    row_of = {node.id: r for r, group in enumerate(grouped, start=offset) for node in group}
    long_edges = sum(1 for n in nodes for p in parents.get(n.id, []) if p in row_of and row_of[n.id] - row_of[p] != 1)
    left = GUTTER + LANE * min(long_edges, 12) + 16
    columns = max((len(r) for r in grouped), default=1)
    main_width = columns * (NODE_W + HGAP) - HGAP
    for index, node in enumerate(orphans):  # stopped before any checkpoint (a source command)
        node.row, node.x, node.y = index, left, TOP + index * (NODE_H + VGAP)
    for r, group in enumerate(grouped, start=offset):
        x0 = left + (main_width - (len(group) * (NODE_W + HGAP) - HGAP)) // 2
        for c, node in enumerate(group):
            node.row, node.x, node.y = r, x0 + c * (NODE_W + HGAP), TOP + r * (NODE_H + VGAP)
    picture = Picture(nodes=[*orphans, *nodes])
    picture.edges = _flow_edges(nodes, parents, by_id, GUTTER + 8)
    side = left + main_width + 48
    right = left + main_width
    slots: dict[int, int] = {}
    for node, anchors in parked:
        if node in orphans:
            continue
        anchor = max((by_id[a] for a in anchors if a in by_id), key=lambda n: (n.row, n.x))
        rightmost = max((n for n in nodes if n.row == anchor.row), key=lambda n: n.x)
        slot = slots[anchor.row] = slots.get(anchor.row, -1) + 1
        node.row, node.x, node.y = anchor.row, side + slot * (NODE_W + HGAP), anchor.y
        sx, sy = rightmost.x + NODE_W, rightmost.y + NODE_H // 2
        picture.edges.append(Edge(f"M{sx},{sy} L{node.x},{node.y + NODE_H // 2}", "stop"))
        picture.nodes.append(node)
        right = max(right, node.x + NODE_W)
    rows_used = max((n.row for n in picture.nodes), default=-1) + 1
    picture.height = TOP * 2 + rows_used * (NODE_H + VGAP)
    picture.width = right + 16
    picture.bands = _bands(grouped, offset, picture.width)
    return picture


def _flow_edges(nodes: list[Node], parents: dict[str, list[str]], by_id: dict[str, Node], lane_x: int) -> list[Edge]:
    edges: list[Edge] = []
    lane = 0
    for node in nodes:
        for parent_id in parents.get(node.id, []):
            parent = by_id.get(parent_id)
            if parent is None:
                continue
            kind = "aux" if node.kind == "aux" else "flow"
            if node.row - parent.row == 1:
                x1, y1 = parent.x + NODE_W // 2, parent.y + NODE_H
                x2, y2 = node.x + NODE_W // 2, node.y
                mid = (y1 + y2) // 2
                edges.append(Edge(f"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}", kind))
            else:  # a long edge (a later pipeline starting from an early checkpoint) runs down a side lane
                x = lane_x + LANE * (lane % 12)
                lane += 1
                y1, y2 = parent.y + NODE_H // 2, node.y + NODE_H // 2
                edges.append(Edge(f"M{parent.x},{y1} L{x},{y1} L{x},{y2} L{node.x},{y2}", kind))
    return edges


def _bands(grouped: list[list[Node]], offset: int, width: int) -> list[Band]:
    """One band per run of consecutive rows of the same pipeline: the pipeline boxes its steps."""
    bands: list[Band] = []
    colors: dict[str, str] = {}
    for r, group in enumerate(grouped, start=offset):
        pipeline = group[0].pipeline
        color = colors.setdefault(pipeline, PALETTE[len(colors) % len(PALETTE)])
        for node in group:
            node.color = color
        y = TOP + r * (NODE_H + VGAP) - VGAP // 2 + 2
        if bands and bands[-1].pipeline == pipeline:
            bands[-1].height = y + NODE_H + VGAP - 4 - bands[-1].y
        else:
            bands.append(Band(pipeline, color, 4, y, width - 8, NODE_H + VGAP - 4))
    return bands
