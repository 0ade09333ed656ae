"""Split the order into kitchen tasks: one per line item of the newest (revised) ticket, plus packing."""

from __future__ import annotations

from checkout import selectors
from checkout.kitchen_commitment.models import KitchenCommitment
from pipelines import Output, Split, StepContext

PACK = "pack"


def process(ctx: StepContext[KitchenCommitment]) -> Split:
    commitment = ctx.input
    tasks = [
        Output(
            {
                "order_id": commitment.order_id,
                "task_name": f"line-{n}:{line['menuItemId']}",
                "menu_item_id": line["menuItemId"],
                "quantity": line["quantity"],
            }
        )
        for n, line in enumerate(selectors.current_lines(commitment.order_id), start=1)
    ]
    tasks.append(Output({"order_id": commitment.order_id, "task_name": PACK, "menu_item_id": None, "quantity": 1}))
    return Split(tasks)
