"""Small display filters of the console's templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def short_name(dotted: str) -> str:
    """``checkout.delivery_assigned.step.NoCourierAvailable`` → ``NoCourierAvailable``."""
    return str(dotted).rsplit(".", 1)[-1]


@register.filter
def action_result(result: object) -> str:
    """An ops action's recorded result in a line: what it inserted, what it retried, what it closed, what failed.

    ``{"inserted": [{"type": "OpsCancellation", …}, …], "closedParkedIds": ["…"]}`` → ``inserted OpsCancellation,
    OrderCancelled; closed 1 parked item`` (a fork's ``closedWaitIds``: ``ended 1 wait``). The full record stays
    on the ops action's own page.
    """
    if not isinstance(result, dict):
        return str(result)
    parts = []
    inserted = [str(row.get("type", "?")) for row in result.get("inserted", []) if isinstance(row, dict)]
    counted = {name: inserted.count(name) for name in inserted}
    if "inserted" in result:
        listed = ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in counted.items())
        parts.append(f"inserted {listed}" if listed else "inserted nothing")
    failed = [
        f"{step.get('pipeline')}/{step.get('step')}"
        for step in result.get("steps", [])
        if isinstance(step, dict) and step.get("status") == "failed"
    ]
    if failed:
        parts.append("failed at " + ", ".join(failed))
    if "attempt" in result and "status" in result:  # a redrive: one attempt of the parked item
        parts.append(f"attempt {result['attempt']}: {result['status']}")
    redrive = result.get("redrive")
    if isinstance(redrive, dict):
        parts.append(f"redrive: {redrive.get('status')}")
    closed = result.get("closedParkedIds")
    if isinstance(closed, list) and closed:
        parts.append(f"closed {len(closed)} parked item{'s' if len(closed) > 1 else ''}")
    ended = result.get("closedWaitIds")
    if isinstance(ended, list) and ended:
        parts.append(f"ended {len(ended)} wait{'s' if len(ended) > 1 else ''}")
    return "; ".join(parts) or "-"
