"""Handoff contract checks: the composition in force against itself and against the committed contracts lock.

The same problems are a Django system check (tag ``contracts``, so ``manage.py check`` runs them), the output of
``manage.py check_contracts``, and the gate every process passes at start-up (``refuse_to_start_if_broken``:
WSGI, ASGI, the Celery worker and beat, the gRPC server). The rules live in
``contract_rules``, ``contract_handoffs``, ``mappers``, ``branch_rules``, ``inputs`` (what each step reads and what
a deadline hands on) and ``contract_lock``;
``docs/contracts.md`` lists every diagnostic with its fix.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from pipelines.contracts import lock as contract_lock
from pipelines.contracts.branch_rules import branch_problems
from pipelines.contracts.declarations import Composition
from pipelines.contracts.handoffs import subscription_problems
from pipelines.contracts.inputs import deadline_input_problems, input_problems
from pipelines.contracts.lock import Lock, LockUnreadable
from pipelines.contracts.mappers import mapped_key_problems, mapper_problems
from pipelines.contracts.modes import SETTING as MODES_SETTING
from pipelines.contracts.modes import mode_problems
from pipelines.contracts.problems import Problem, Severity
from pipelines.contracts.rules import (
    contract_problems,
    dead_ends,
    deadline_problems,
    fork_key_problems,
    pipeline_problems,
    producers,
    publication_problems,
)

__all__ = [
    "ContractsBroken",
    "Problem",
    "Severity",
    "check_composition",
    "problems_in_force",
    "refuse_to_start_if_broken",
]


class ContractsBroken(ImproperlyConfigured):
    """Raised at start-up when the composition in force has contract errors; the message lists all of them."""

    def __init__(self, report: str, problems: list[Problem]) -> None:
        super().__init__(report)
        self.problems = problems


def check_composition(composition: Composition, lock: Lock | None = None, modes: str = "") -> list[Problem]:
    """Every problem of ``composition``; with ``lock``, also every drift from it; with ``modes``, also those of that
    ``TPFGO_PUBLICATION_MODES`` override. Pure: no settings, no files."""
    found = producers(composition)
    problems = [
        *pipeline_problems(composition),
        *contract_problems(composition),
        *fork_key_problems(composition),
        *publication_problems(found),
        *subscription_problems(composition, found),
        *mapper_problems(composition),
        *mapped_key_problems(composition),
        *dead_ends(composition, found),
        *deadline_problems(composition),
        *input_problems(composition),
        *deadline_input_problems(composition),
        *branch_problems(composition),
        *mode_problems(composition, modes),
    ]
    if lock is not None:
        problems.extend(contract_lock.check_lock(composition, lock))
    return problems


# -- the composition and lock in force ----------------------------------------------------------------------
def lock_path() -> Path:
    return Path(getattr(settings, "TPFGO_CONTRACTS_LOCK", Path(settings.BASE_DIR) / "contracts.lock.json"))


def load_composition() -> tuple[Composition | None, Problem | None]:
    """``settings.TPFGO_COMPOSITION`` imported, or the problem that stops it loading."""
    path = settings.TPFGO_COMPOSITION
    hint = "Point TPFGO_COMPOSITION at a Composition (module.ATTRIBUTE) and fix the error that stops its import."
    try:
        loaded = import_string(path)
    except Exception as exc:  # noqa: BLE001  (an import failure is a problem to report, not a crash of the check)
        message = f"composition '{path}' (TPFGO_COMPOSITION) cannot be loaded: {type(exc).__name__}: {exc}"
        return None, Problem("pipelines.E010", message, hint)
    if not isinstance(loaded, Composition):
        message = (
            f"composition '{path}' (TPFGO_COMPOSITION) is not a Composition "
            f"(expected=pipelines.contracts.declarations.Composition actual={type(loaded).__name__})"
        )
        return None, Problem("pipelines.E010", message, hint)
    return loaded, None


def load_lock(path: Path) -> tuple[Lock | None, Problem | None]:
    try:
        lock = contract_lock.read(path)
    except (LockUnreadable, OSError) as exc:
        message = f"contracts lock {path} is unreadable: {exc}"
        hint = "Restore it from version control (git checkout -- contracts.lock.json), or delete it and run the update."
        return None, Problem("pipelines.E031", message, hint)
    if lock is None:
        message = f"contracts lock {path} does not exist: no publication's contract is recorded yet"
        return None, Problem("pipelines.W030", message, contract_lock.UPDATE, "warning")
    return lock, None


def problems_in_force() -> list[Problem]:
    """Every problem of the composition named by the settings, checked against the lock the settings name."""
    composition, problem = load_composition()
    if composition is None:
        return [problem] if problem else []
    lock, lock_problem = load_lock(lock_path())
    problems = check_composition(composition, lock, str(getattr(settings, MODES_SETTING, "") or ""))
    if lock_problem:
        problems.append(lock_problem)
    return problems


# -- reporting, the system check and start-up ---------------------------------------------------------------
def counts(problems: list[Problem]) -> str:
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def report(problems: list[Problem]) -> str:
    """Every problem, errors first."""
    return "\n".join(p.render() for p in sorted(problems, key=lambda p: not p.is_error))


def system_check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """Registered under the ``contracts`` tag by the pipelines app."""
    return [p.as_check_message() for p in problems_in_force()]


def refuse_to_start_if_broken(process: str = "this process") -> list[Problem]:
    """Raise ``ContractsBroken`` (after printing every diagnostic to stderr) if the composition has errors.

    Warnings (dead ends, a lock that needs updating) are printed and returned: they fail CI, not a start-up.
    """
    problems = problems_in_force()
    if not problems:
        return problems
    errors = [p for p in problems if p.is_error]
    if errors:
        text = (
            f"TPFGo refuses to start {process}: the handoff contracts of {settings.TPFGO_COMPOSITION} are broken "
            f"({counts(problems)}):\n{report(problems)}"
        )
        print(text, file=sys.stderr, flush=True)
        raise ContractsBroken(text, problems)
    print(f"contract warnings in {process} ({counts(problems)}):\n{report(problems)}", file=sys.stderr, flush=True)
    return problems


def refuse_worker_start(**kwargs: object) -> None:
    """Celery ``worker_init`` receiver (connected by the pipelines app)."""
    _exit_if_broken("the Celery worker")


def refuse_beat_start(**kwargs: object) -> None:
    """Celery ``beat_init`` receiver (connected by the pipelines app)."""
    _exit_if_broken("Celery beat")


def _exit_if_broken(process: str) -> None:
    # Celery logs and swallows exceptions raised by signal receivers, so a broken composition exits instead.
    try:
        refuse_to_start_if_broken(process)
    except ContractsBroken:
        raise SystemExit(1) from None
