"""The lane's settings are checked before anything runs: a value no query can work with is a system-check error."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings


def lane_errors() -> list[tuple[str, str]]:
    return [(m.id or "", m.msg) for m in run_checks() if (m.id or "").startswith("search.")]


def test_the_shipped_settings_pass():
    assert lane_errors() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TPFGO_SEARCH_SHARDS", 0),
        ("TPFGO_SEARCH_SHARDS", 100),
        ("TPFGO_SEARCH_DEADLINE_MS", 0),
        ("TPFGO_SEARCH_DEADLINE_MS", -250),
        ("TPFGO_SEARCH_TOP_K", 0),
    ],
)
def test_a_setting_no_query_can_work_with_is_an_error(name, value):
    with override_settings(**{name: value}):
        assert lane_errors() == [("search.E001", f"{name} is {value}")]


def test_a_shards_backend_that_cannot_be_imported_is_an_error():
    with override_settings(TPFGO_SEARCH_SHARDS_BACKEND="search.shards.NoSuchShards"):
        [(code, message)] = lane_errors()
    assert code == "search.E002"
    assert message.startswith("TPFGO_SEARCH_SHARDS_BACKEND 'search.shards.NoSuchShards' cannot be imported: ")
