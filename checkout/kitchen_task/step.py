"""Split the order into kitchen tasks: one per line item of the newest (revised) ticket, plus packing."""

from __future__ import annotations

from typing import Any

from checkout import selectors
from pipelines import StepContext

PACK = "pack"


def process(ctx: StepContext) -> list[dict[str, Any]]:
    commitment = ctx.input
    tasks = [
        {
            "order_id": commitment.order_id,
            "task_name": f"line-{n}:{line['menuItemId']}",
            "menu_item_id": line["menuItemId"],
            "quantity": line["quantity"],
        }
        for n, line in enumerate(selectors.current_lines(commitment.order_id), start=1)
    ]
    tasks.append({"order_id": commitment.order_id, "task_name": PACK, "menu_item_id": None, "quantity": 1})
    return tasks
