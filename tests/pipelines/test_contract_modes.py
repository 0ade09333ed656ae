"""``check_contracts`` knows the delivery modes: a queued handoff is checked like any other, and a mode that is not
one, an override that names nothing, or a queue nobody reads fails with its exact diagnostic."""

from __future__ import annotations

import pytest

from tests.pipelines import test_contracts
from tests.pipelines.test_contracts import check_contracts, ids

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lane_lock")]
lock_file, lane_lock = test_contracts.lock_file, test_contracts.lane_lock  # the sound lane's lock, as committed


def test_a_declared_queue_publication_passes_and_needs_no_lock_update(settings):
    run = check_contracts(settings, "QUEUED")
    assert (run.code, run.err) == (0, "")


@pytest.mark.parametrize(
    ("fixture", "problem", "message"),
    [
        (
            "QUEUED_TYPE_MISMATCH",
            "pipelines.E014",
            "handoff type mismatch for publication 'lane.indexed.v1': producer ingest/index outputs DocumentIndexed, "
            "consumer publish/publish expects DocumentReceived",
        ),
        (
            "QUEUED_AWAIT_WITHOUT_DEADLINE",
            "pipelines.E029",
            "step publish/publish awaits an external event but declares no deadline",
        ),
        (
            "QUEUED_WITHOUT_SUBSCRIBER",
            "pipelines.E043",
            "publication 'lane.published.v1' (producer publish) is handed off through a queue (it is declared "
            "mode='queue'), but no pipeline subscribes to it (expected=at least 1 subscriber actual=0)",
        ),
        (
            "NOT_A_MODE",
            "pipelines.E041",
            "publication 'lane.indexed.v1' (producer ingest) declares the mode 'async', which is not a delivery mode "
            "(expected=one of [sync, queue] actual='async')",
        ),
    ],
)
def test_a_queue_boundary_is_checked_like_any_handoff(settings, fixture, problem, message):
    run = check_contracts(settings, fixture)
    assert run.code == 1
    assert ids(run) == [problem]
    assert f"{problem} (error) {message}" in run.err


@pytest.mark.parametrize(
    ("modes", "problem", "message"),
    [
        (
            "lane.indexd.v1=queue",
            "pipelines.E042",
            "TPFGO_PUBLICATION_MODES names publication 'lane.indexd.v1', which no pipeline of the composition "
            "produces (expected=a produced publication actual='lane.indexd.v1'); did you mean 'lane.indexed.v1'?",
        ),
        (
            "lane.indexed.v1=fast",
            "pipelines.E041",
            "TPFGO_PUBLICATION_MODES gives 'lane.indexed.v1' the mode 'fast', which is not a delivery mode "
            "(expected=one of [sync, queue] actual='fast')",
        ),
        (
            "*=queue,lane.published.v1=queue",
            "pipelines.E043",
            "publication 'lane.published.v1' (producer publish) is handed off through a queue "
            "(TPFGO_PUBLICATION_MODES queues it), but no pipeline subscribes to it",
        ),
    ],
)
def test_an_override_that_cannot_hold_fails_the_checks(settings, modes, problem, message):
    settings.TPFGO_PUBLICATION_MODES = modes
    run = check_contracts(settings, "tests.lane.composition.COMPOSITION")
    assert run.code == 1
    assert ids(run) == [problem]
    assert f"{problem} (error) {message}" in run.err


def test_star_queues_only_what_has_subscribers_and_passes(settings):
    settings.TPFGO_PUBLICATION_MODES = "*=queue"
    run = check_contracts(settings, "tests.lane.composition.COMPOSITION")
    assert (run.code, run.err) == (0, "")
