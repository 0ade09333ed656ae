"""Shared fixtures: the engine on the test lane, and helpers that count rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps import apps

from pipelines.runner import Engine
from tests.lane import composition as lane


@pytest.fixture
def lane_engine() -> Iterator[Engine]:
    lane.FAILURES.clear()
    yield Engine(lane.COMPOSITION)
    lane.FAILURES.clear()


@pytest.fixture
def lane_composition(settings):  # type: ignore[no-untyped-def]
    settings.TPFGO_COMPOSITION = "tests.lane.composition.COMPOSITION"
    return lane.COMPOSITION


def row_counts(*labels: str) -> dict[str, int]:
    """Rows per model label (``"lane.TokenIndexed"``), for exact before/after comparisons."""
    return {label: apps.get_model(label).objects.count() for label in labels}


def all_insert_only_counts() -> dict[str, int]:
    from pipelines.models import InsertOnlyModel

    return {m._meta.label: m.objects.count() for m in apps.get_models() if issubclass(m, InsertOnlyModel)}
