"""The adapter's mappings: every TPFGo state has an FTGO state, FTGO's LocalDateTime forms read as UTC."""

from __future__ import annotations

import inspect
import re

import pytest

from checkout import state
from ftgo import states, times
from pipelines.contracts.status import InvalidArgument


def tpfgo_labels() -> set[str]:
    """Every label ``checkout.state.label`` can answer, read from its source and its table."""
    literals = set(re.findall(r'"([A-Z][A-Z_]+)"', inspect.getsource(state.label)))
    return literals | {name for _, name in state._BY_TYPE}


def test_every_tpfgo_state_maps_to_one_of_ftgos_six() -> None:
    labels = tpfgo_labels()
    assert {"PENDING", "AWAITING_ACCEPTANCE", "CANCELLED", "COMPLETED", "REVIEW_REQUIRED"} <= labels
    assert set(states.BY_LABEL) == labels
    assert set(states.BY_LABEL.values()) <= set(states.FTGO_STATES)


@pytest.mark.parametrize(
    ("label", "ftgo"),
    [
        ("PENDING", "APPROVAL_PENDING"),
        ("AWAITING_ACCEPTANCE", "APPROVED"),
        ("DELIVERED", "APPROVED"),
        ("CANCEL_PENDING", "CANCEL_PENDING"),
        ("CANCELLED", "CANCELLED"),
        ("REJECTED", "REJECTED"),
        ("PAYMENT_FAILED", "REJECTED"),
    ],
)
def test_a_state_maps_as_documented(label: str, ftgo: str) -> None:
    assert states.ftgo_state(label) == ftgo


@pytest.mark.parametrize(
    ("sent", "utc"),
    [
        ([2026, 12, 4, 18, 30, 5, 123456789], "2026-12-04T18:30:05.123456Z"),  # Jackson's array
        ([2026, 12, 4, 18, 30], "2026-12-04T18:30:00Z"),  # Jackson drops zero seconds
        ("2026-12-04T18:30:05.5", "2026-12-04T18:30:05.500000Z"),  # LocalDateTime as text: UTC
        ("2026-12-04T18:30:05.123456789", "2026-12-04T18:30:05.123456Z"),  # nanoseconds cut to microseconds
        ("2026-12-04T18:30:05+02:00", "2026-12-04T16:30:05Z"),  # a zone is kept
        (None, None),
        ("", None),
    ],
)
def test_ftgos_local_date_times_are_read_as_utc(sent: object, utc: str | None) -> None:
    assert times.utc_text(sent, "deliveryTime") == utc


@pytest.mark.parametrize(
    "sent",
    [
        "tomorrow",
        "2026-13-01T00:00:00",
        "2026-12-04T18:30:05,5",  # Jackson's ISO_LOCAL_DATE_TIME: a dot only
        "2026-12-04T18:30:05.1234567891",  # and at most nanoseconds
        [2026, 12, 4],
        [2026, 2, 30, 1, 1],
        [2026, 12, 4, 18, True],
        1733333333,
        {},
    ],
)
def test_anything_else_is_invalid_and_names_the_field(sent: object) -> None:
    with pytest.raises(InvalidArgument) as raised:
        times.utc_text(sent, "readyBy")
    assert [d.field for d in raised.value.details] == ["readyBy"]
