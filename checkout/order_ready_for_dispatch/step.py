"""Merge the kitchen tasks back: the digest is the sorted task ids, whatever order they finished in."""

from __future__ import annotations

from checkout.kitchen_task.models import KitchenTask
from pipelines import Output, StepContext


def process(ctx: StepContext[list[KitchenTask]]) -> Output:
    tasks = sorted(ctx.input, key=lambda task: str(task.pk))
    return Output(
        {
            "order_id": tasks[0].order_id,
            "ready_at": ctx.now,
            "lineage_digest": "|".join(str(task.pk) for task in tasks),
            "task_count": len(tasks),
        }
    )
