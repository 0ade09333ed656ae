"""One diagnostic of the contract checks (``Problem``): a stable id, a message naming everything involved, a fix.

Every rule module yields them; ``pipelines.contracts.checks`` reports them, as ``manage.py check_contracts`` output,
Django system check messages and the start-up gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.core import checks

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One diagnostic: a stable id (``pipelines.E014``), a message naming everything involved, and a fix."""

    id: str
    message: str
    hint: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self) -> str:
        return f"{self.id} ({self.severity}) {self.message}\n    HINT: {self.hint}"

    def as_check_message(self) -> checks.CheckMessage:
        level = checks.ERROR if self.is_error else checks.WARNING
        return checks.CheckMessage(level, self.message, hint=self.hint, id=self.id)
