"""``pipelines.W047``: a checkpoint model that no step of the composition in force writes (a step left out of the
composition, or removed with its model left behind) is a warning, which ``manage.py check --fail-level WARNING``
(CI) turns into a failure."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from pipelines.checks import check_unwritten_checkpoints


def test_every_checkpoint_model_of_the_shipped_domains_is_written_by_a_step(settings):
    settings.TPFGO_COMPOSITION = "tpfgo_site.composition.COMPOSITION"  # checkout and the search lane

    assert check_unwritten_checkpoints() == []


def test_a_model_no_step_of_the_composition_writes_is_named(settings):
    # The plain lane writes neither the audit nor the stats (only its branch policy's variant declares them); the
    # installed checkout and search models are not its domain.
    settings.TPFGO_COMPOSITION = "tests.lane.composition.COMPOSITION"

    found = check_unwritten_checkpoints()

    assert [(m.id, m.level, m.msg) for m in found] == [
        (
            "pipelines.W047",
            checks.WARNING,
            f"checkpoint model lane.{name} is written by no step of the composition "
            "tests.lane.composition.COMPOSITION: nothing ever inserts a row of it, and nothing hands it off",
        )
        for name in ("DocumentStats", "DocumentAudit")
    ]
    with pytest.raises(SystemCheckError, match=r"pipelines\.W047"):
        call_command("check", fail_level="WARNING", stdout=StringIO(), stderr=StringIO())


def test_the_lane_that_declares_its_aux_branches_writes_every_model(settings):
    settings.TPFGO_COMPOSITION = "tests.lane.branches.COMPOSITION"

    assert check_unwritten_checkpoints() == []
