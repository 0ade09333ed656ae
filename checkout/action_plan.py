"""What an ops action would do to one order, before it is run: the rows it would insert, why it is refused, and the
runner that carries it out. ``checkout.ops_actions`` plans the actions it defines; ``checkout.fork_action`` plans
a fork."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# (actor, reason) → (what happened, for the audit row; the id of the item acted on)
Runner = Callable[[str, str], tuple[dict[str, Any], uuid.UUID | None]]


@dataclass
class Plan:
    inserts: list[dict[str, str]] = field(default_factory=list)
    why: str | None = None  # None: allowed
    run: Runner | None = None
    action_id: uuid.UUID | None = None  # the audit row's id when the action's own identity gives one (a fork)

    def add(self, type_name: str, summary: str) -> None:
        self.inserts.append({"type": type_name, "summary": summary})
