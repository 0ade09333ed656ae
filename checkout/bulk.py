"""Placing many orders at once: the application service's rules, the engine's batched path.

``place_orders([(body, key), ...])`` answers every command as ``services.place_order`` would answer it alone:
each body is validated and put in canonical form the same way; a key already stored is a replay (the same
command) or ``ALREADY_EXISTS`` (another command); a new key runs 01→08 through ``BatchEngine`` (one
transaction per step for the whole batch, the same rows as one by one); a failure after the order request
was stored is no error (the order is answered, stalled). A key given twice in one call runs once: the second
occurrence is answered as a replay of the first. Answers come back in input order: a ``Placed``, or the
``ServiceError`` that the single path would have raised for that command.

The batch reads its reference rows (consumers, restaurants, menus) in three queries and everything else once
per batch (the store's read scope).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checkout import commands, selectors, services, state
from checkout.order_request.models import OrderRequest
from checkout.order_view import render
from checkout.services import Placed, order_id_for
from pipelines import (
    BatchEngine,
    ServiceError,
    StepStatus,
    Unavailable,
    backlog,
    composition,
    input_limits,
    storage,
)
from pipelines.models import CheckpointLog, Tombstone

Answer = Placed | ServiceError


@dataclass(frozen=True)
class _Command:
    index: int
    key: str
    payload: dict[str, Any]
    digest: str
    order_id: uuid.UUID


def place_orders(batch: Sequence[tuple[Any, str | None]], *, views: bool = True, chunk: int = 500) -> list[Answer]:
    """One answer per ``(body, idempotency key)``, in order. ``views=False`` answers a short view per order
    (``orderId``, ``requestId``, ``state``) read in bulk, as a stream ingest does, instead of the full order view.
    """
    answers: list[Answer | None] = [None] * len(batch)
    for start in range(0, len(batch), chunk):
        with storage.read_scope():
            _place_chunk(batch[start : start + chunk], start, answers, views)
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


def _place_chunk(
    items: Sequence[tuple[Any, str | None]], offset: int, answers: list[Answer | None], views: bool
) -> None:
    bodies = [body for body in (body for body, _ in items) if isinstance(body, dict)]
    # Read ahead only ids that validation can pass: a NUL or a lone surrogate would fail the look-up itself, and
    # with it the whole chunk (each body is validated below, and answered alone).
    selectors.prepare_reference(
        [b["consumerId"] for b in bodies if input_limits.text_issue(b.get("consumerId")) is None],
        [b["restaurantId"] for b in bodies if input_limits.text_issue(b.get("restaurantId")) is None],
    )
    valid: list[_Command] = []
    for n, (body, raw_key) in enumerate(items):
        try:
            key = commands.check_key(raw_key)
            canonical = commands.canonical(body)
        except ServiceError as exc:
            answers[offset + n] = exc
            continue
        digest = commands.command_hash(canonical)
        valid.append(_Command(offset + n, key, canonical, digest, order_id_for(key)))
    stored = {r.order_id: r for r in OrderRequest.objects.filter(order_id__in=[c.order_id for c in valid])}
    storage.remember(stored.values())
    buried = _purged_keys([c.key for c in valid if c.order_id not in stored])
    first: dict[str, _Command] = {}
    for command in valid:
        if command.key in buried:
            answers[command.index] = services.purged(services.KEY_PURGED)  # as place_order words it
        elif command.order_id not in stored:
            first.setdefault(command.key, command)
    runs = list(first.values())
    if runs:
        try:
            backlog.admit("checkout")  # new orders only: a stored one is still answered
        except ServiceError as exc:
            for command in valid:
                if command.order_id not in stored and answers[command.index] is None:
                    answers[command.index] = exc
            runs = []
    executions = BatchEngine(composition(), batch_size=max(1, len(runs))).start_many(
        "checkout", [({**c.payload, "requestId": c.key, "commandHash": c.digest}, c.key) for c in runs]
    )
    created: set[int] = set()
    requests: dict[uuid.UUID, OrderRequest] = dict(stored)
    for command, execution in zip(runs, executions, strict=True):
        result = execution.first
        if result.status is StepStatus.INSERTED:
            created.add(command.index)
        elif result.status not in (StepStatus.REPLAYED, StepStatus.LOST):  # the order request was not stored
            answers[command.index] = Unavailable(
                "the order could not be recorded yet; retry with the same Idempotency-Key"
            )
            continue
        # The stored order request, as the engine holds it: inserted, replayed, or the winner of its key.
        own = result.status is not StepStatus.LOST and result.checkpoints
        request = result.checkpoints[0] if own else result.winner
        if isinstance(request, OrderRequest):
            requests[command.order_id] = request
    recorded = [c for c in valid if answers[c.index] is None]
    with storage.batch_step([str(c.order_id) for c in recorded]):  # each fact read once for the whole chunk
        _answer(recorded, requests, created, answers, views)


def _purged_keys(keys: list[str]) -> set[str]:
    """Keys whose order the retention policy removed (one look-up for the chunk)."""
    if not keys:
        return set()
    return set(Tombstone.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))


def _answer(
    recorded: list[_Command],
    requests: dict[uuid.UUID, OrderRequest],
    created: set[int],
    answers: list[Answer | None],
    views: bool,
) -> None:
    summaries = {} if views else _summaries([c.order_id for c in recorded])
    for command in recorded:
        request = requests.get(command.order_id)
        if request is None or not commands.same_request(request, command.payload, command.digest):
            answers[command.index] = services.key_reused()
            continue
        view = render(state.order_view(command.order_id)) if views else summaries[command.order_id]
        answers[command.index] = Placed(view, created=command.index in created)


def _summaries(order_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """``orderId``, ``requestId`` and ``state`` of many orders, from one read of the checkpoint log."""
    present: dict[uuid.UUID, set[str]] = {order_id: set() for order_id in order_ids}
    order_of = {number: order_id for order_id, number in storage.trace_numbers(order_ids).items()}
    rows = CheckpointLog.objects.filter(trace_number__in=list(order_of)).values_list("trace_number", "checkpoint_type")
    for number, checkpoint_type in rows:
        present[order_of[number]].add(checkpoint_type)
    out = {}
    for order_id, types in present.items():  # inside the caller's batch step: a fact is read once for all
        request = selectors.order_request(order_id)
        out[order_id] = {
            "orderId": str(order_id),
            "requestId": request.request_id if request else None,
            "state": state.label(order_id, types),
        }
    return out
