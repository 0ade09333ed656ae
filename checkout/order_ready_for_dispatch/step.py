"""Merge the kitchen tasks back: the digest is the sorted task ids, whatever order they finished in."""

from __future__ import annotations

from typing import Any

from pipelines import StepContext


def process(ctx: StepContext) -> dict[str, Any]:
    tasks = sorted(ctx.input, key=lambda task: str(task.pk))
    return {
        "order_id": tasks[0].order_id,
        "ready_at": ctx.now,
        "lineage_digest": "|".join(str(task.pk) for task in tasks),
        "task_count": len(tasks),
    }
