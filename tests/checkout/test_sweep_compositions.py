"""The sweeper's decisions and the composition: a position decided at rest because nothing followed it is decided
again under a composition that has something to follow it (a pipeline a deploy dropped, then restored)."""

from __future__ import annotations

import pytest

from checkout import services
from pipelines.models import CheckpointLog, Resumption
from pipelines.recovery import frontier, sweeper
from tests.checkout.conftest import place
from tests.checkout.facts import completed_order_rows
from tests.pipelines.test_frontier import later

pytestmark = pytest.mark.django_db

SHIPPED = "checkout.composition.COMPOSITION"
WITHOUT_DISPATCH = "tests.checkout.test_fork_recovery.WITHOUT_DISPATCH"


@pytest.fixture(autouse=True)
def _inline_resumes(settings):
    settings.TPFGO_RESUME_ENQUEUE = ""


def dispatch_dropped(settings) -> tuple[str, CheckpointLog]:
    """An order placed while the composition had no dispatch, swept then: its kitchen's output, with nothing
    subscribed to it, is settled as nothing follows."""
    settings.TPFGO_COMPOSITION = WITHOUT_DISPATCH
    order_id = place().view["orderId"]
    ready = CheckpointLog.objects.get(trace_id=order_id, checkpoint_type="OrderReadyForDispatch")
    report = sweeper.sweep(now=later(300))
    assert report.settled == [(order_id, ready.seq, "nothing follows")]
    assert report.resumes == []
    return order_id, ready


@pytest.mark.parametrize("rebuilt", [False, True], ids=["log-window", "frontier"])
def test_a_position_nothing_followed_is_resumed_once_its_pipeline_is_restored(demo_data, settings, rebuilt):
    """With dispatch dropped, the kitchen's output was skipped for good: restored, dispatch never ran on it. The
    frontier rebuilt by the restoring deploy's migrate, or the log's window scanned before it: either way."""
    order_id, ready = dispatch_dropped(settings)
    settings.TPFGO_COMPOSITION = SHIPPED
    if rebuilt:
        frontier.rebuild()

    report = sweeper.sweep(now=later(600))

    assert report.resumes == [(order_id, ready.seq)]
    assert services.get_order(order_id)["state"] == "COMPLETED"
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == completed_order_rows()
    decisions = Resumption.objects.filter(seq=ready.seq).order_by("attempt").values_list("attempt", "decision")
    assert list(decisions) == [(1, "skipped"), (2, "resumed")]
    assert sweeper.sweep(now=later(900)).resumes == []


def test_a_position_nothing_follows_is_not_looked_at_again_under_the_same_composition(demo_data, settings):
    order_id, ready = dispatch_dropped(settings)

    report = sweeper.sweep(now=later(600))

    assert report.settled == [] and report.resumes == []
    decided = Resumption.objects.filter(trace_id=order_id).values_list("seq", "decision", "detail")
    assert list(decided) == [(ready.seq, "skipped", "nothing follows")]
