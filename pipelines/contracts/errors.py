"""Errors, classified where raised: every step error is retryable or not and carries a stable code."""

from __future__ import annotations


class InsertOnlyViolation(Exception):
    """A write that would change or remove a row of an insert-only model."""

    def __init__(self, model_label: str, operation: str) -> None:
        super().__init__(f"{model_label} is insert-only: {operation} refused")
        self.model_label = model_label
        self.operation = operation


class StepError(Exception):
    """Base of the errors a step raises on purpose. Subclasses decide retryability."""

    retryable: bool = True
    code: str = "STEP_FAILED"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class RetryableError(StepError):
    """A transient failure (a dependency timed out, no courier yet): park and retry with backoff."""

    retryable = True
    code = "TRANSIENT"


class NonRetryableError(StepError):
    """Retrying cannot help (invalid data found mid-chain): dead-letter at once."""

    retryable = False
    code = "NON_RETRYABLE"


class ContractError(NonRetryableError):
    """A value does not fit its contract (a blank key field, a missing required field)."""

    code = "CONTRACT_VIOLATION"


# The engine's stable codes (an error-sink entry's ``error_code``). Domains declare theirs where raised (a
# ``StepError`` subclass's ``code``); docs/operations.md maps every code to its first action. Never rename a
# code: alerts and runbooks key on it.
ENGINE_CODES = {
    "STEP_FAILED": "a StepError raised without a more specific code",
    "TRANSIENT": "a RetryableError without a more specific code: retried with backoff",
    "NON_RETRYABLE": "a NonRetryableError without a more specific code: dead-lettered at once",
    "CONTRACT_VIOLATION": "a value does not fit its contract: dead-lettered at once",
    "UNEXPECTED": "any other exception (a bug): retried by default, then dead-lettered",
    "ATTEMPT_LOST": "the worker running an attempt died before recording it (found by the sweeper)",
    "STALE_PLAN": "a statement prepared before a migration changed a column's type, refused inside a transaction",
}
# Why an item was dead-lettered (``ParkingOutcome.reason``).
DEAD_LETTER_REASONS = ("retry_exhausted", "non_retryable")


def is_retryable(exc: BaseException) -> bool:
    """Unexpected exceptions (bugs) are retryable by default; declared errors say for themselves."""
    if isinstance(exc, StepError):
        return exc.retryable
    return True


def error_code(exc: BaseException) -> str:
    if isinstance(exc, StepError):
        return exc.code
    return "UNEXPECTED"
