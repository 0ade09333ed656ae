"""Error codes are stable and documented: every code a step can record has a row in docs/operations.md."""

from __future__ import annotations

from django.conf import settings

import tpfgo_site.composition  # noqa: F401  (loads every domain's steps and adapters, and so their error classes)
from checkout.payments import GatewayUnavailable, IdempotencyKeyReused
from pipelines.contracts import errors
from pipelines.recovery.sweeper import AttemptLost
from pipelines.store.postgres import StalePlan

# Codes passed at raise sites (``code=...``) rather than declared on a class.
RAISED = {"UNKNOWN_COURIER", "INVALID_DATA", "INVALID_REMEDIATION"}


def test_the_engine_codes_are_stable():
    assert set(errors.ENGINE_CODES) == {
        "STEP_FAILED",
        "TRANSIENT",
        "NON_RETRYABLE",
        "CONTRACT_VIOLATION",
        "UNEXPECTED",
        "ATTEMPT_LOST",
        "STALE_PLAN",
    }
    assert (errors.StepError.code, errors.RetryableError.code, errors.NonRetryableError.code) == (
        "STEP_FAILED",
        "TRANSIENT",
        "NON_RETRYABLE",
    )
    assert errors.ContractError.code == "CONTRACT_VIOLATION" and AttemptLost.code == "ATTEMPT_LOST"
    assert errors.error_code(StalePlan("cached plan")) == "STALE_PLAN" and errors.is_retryable(StalePlan("cached plan"))
    assert errors.error_code(RuntimeError("bug")) == "UNEXPECTED"
    assert errors.DEAD_LETTER_REASONS == ("retry_exhausted", "non_retryable")


def declared_codes() -> set[str]:
    """The code of every error class a shipped module declares (a test's own classes left out)."""
    found, classes = set(), [errors.StepError]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        if not cls.__module__.startswith("tests."):
            found.add(cls.code)
    return found


def test_the_declared_codes_are_found_in_every_domain():
    assert {GatewayUnavailable.code, IdempotencyKeyReused.code, "NO_COURIER_AVAILABLE"} <= declared_codes()
    assert {"SEARCH_SHARD_UNAVAILABLE", "SEARCH_ANALYTICS_UNAVAILABLE"} <= declared_codes()


def test_every_code_and_dead_letter_reason_is_in_the_runbook():
    page = (settings.BASE_DIR / "docs" / "operations.md").read_text()
    domain = declared_codes() | RAISED
    missing = sorted(c for c in {*errors.ENGINE_CODES, *domain, *errors.DEAD_LETTER_REASONS} if f"`{c}`" not in page)
    assert missing == []


def test_classification_decides_retries():
    assert errors.is_retryable(GatewayUnavailable("down")) and errors.is_retryable(KeyError("bug"))
    assert not errors.is_retryable(errors.ContractError("blank key"))
