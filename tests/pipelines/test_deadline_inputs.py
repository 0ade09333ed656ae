"""A deadline hands the waiting step's input to its round's pipeline: one that cannot take it is refused at check
time (``pipelines.E048``, tests/pipelines/test_contracts.py) and, should one run anyway, when the round fires: an
error-sink entry, nothing run."""

import datetime

import pytest
import time_machine

from pipelines.contracts.checks import check_composition
from pipelines.engine.registry import engine
from pipelines.models import ErrorSinkEntry, ParkedItem, ParkingOutcome, RetryScheduled, WaitEnded
from pipelines.recovery import deadlines
from tests.contracts_fixtures import compositions
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)


def at(minutes: float):
    return time_machine.travel(T0 + datetime.timedelta(minutes=minutes), tick=False)


@pytest.fixture
def waiting(settings):
    """``publish`` waits on a DocumentIndexed; its deadline runs a pipeline that takes DocumentReceived."""
    yield from waiting_in(settings, "DEADLINE_INPUT_MISMATCH")


@pytest.fixture
def waiting_two_rounds(settings):
    """As ``waiting``, with a second round that runs the same pipeline."""
    yield from waiting_in(settings, "DEADLINE_INPUT_MISMATCH_TWICE")


def waiting_in(settings, name: str):
    settings.TPFGO_COMPOSITION = f"tests.contracts_fixtures.compositions.{name}"
    settings.TPFGO_PICKUP_DEADLINE_MINUTES = 20
    lane.FAILURES.clear()
    lane.FAILURES["publish"] = "await"
    with at(0):
        engine().start("ingest", {"text": "gamma alpha beta"}, "doc-1")
    yield
    lane.FAILURES.clear()


def test_the_check_names_the_deadline_whose_pipeline_cannot_take_what_it_hands_on():
    assert [p.id for p in check_composition(compositions.DEADLINE_INPUT_MISMATCH)] == ["pipelines.E048"]
    assert check_composition(compositions.DEADLINE_TO_ITSELF) == []


def test_a_step_that_always_waits_needs_a_deadline_pipeline_taking_everything_that_reaches_it():
    """``awaits=True``: a DocumentIndexed and a DocumentReceived both wait, and manual-publish takes only the latter.
    With a predicate, which of them waits is data: the check lets it pass and the round refuses a misfit."""
    assert [p.id for p in check_composition(compositions.DEADLINE_INPUT_PARTLY_TAKEN)] == ["pipelines.E048"]
    assert check_composition(compositions.DEADLINE_INPUT_PARTLY_TAKEN_BY_DATA) == []


def test_a_round_whose_pipeline_cannot_take_the_waited_on_input_is_refused_into_the_error_sink(waiting):
    with at(21):
        [fired] = deadlines.expire()

    assert (fired.outcome, fired.ran, fired.inserted, fired.first_status.value) == (
        "expired",
        "manual-publish",
        0,
        "failed",
    )
    assert DocumentPublished.objects.count() == 0  # before: manual-publish published it "by hand"
    assert WaitEnded.objects.filter(outcome=WaitEnded.EXPIRED).count() == 1
    entry = ErrorSinkEntry.objects.get()
    indexed = DocumentIndexed.objects.get()
    assert (entry.pipeline, entry.step, entry.item_type, entry.item_id, entry.error_code, entry.retryable) == (
        "manual-publish",
        "manual_publish",
        "DocumentIndexed",
        indexed.pk,
        "CONTRACT_VIOLATION",
        False,
    )
    assert entry.message == (
        "the deadline of step publish/publish runs pipeline 'manual-publish' on DocumentIndexed, but manual-publish "
        "takes DocumentReceived at its step manual_publish (pipelines.E048)"
    )
    assert ParkedItem.objects.filter(pipeline="manual-publish", item_id=indexed.pk).count() == 1


def test_a_later_round_refused_again_is_a_new_attempt_with_its_own_entry_and_dead_letter(waiting_two_rounds):
    """The parked item reads as refused once per round: before, the second round recorded attempt 1 again, whose
    entry and dead letter were there already, so it inserted nothing and ops saw one refusal."""
    with at(21):
        [first] = deadlines.expire()
    with at(41):
        [second] = deadlines.expire()

    assert [(f.round, f.outcome, f.ran, f.first_status.value) for f in (first, second)] == [
        (1, "expired", "manual-publish", "failed"),
        (2, "expired", "manual-publish", "failed"),
    ]
    indexed = DocumentIndexed.objects.get()
    assert list(ErrorSinkEntry.objects.order_by("attempt").values_list("pipeline", "attempt", "error_code")) == [
        ("manual-publish", 1, "CONTRACT_VIOLATION"),
        ("manual-publish", 2, "CONTRACT_VIOLATION"),
    ]
    parked = ParkedItem.objects.get()
    assert (parked.pipeline, parked.item_id) == ("manual-publish", indexed.pk)
    assert list(ParkingOutcome.objects.order_by("id").values_list("outcome", "reason", "attempts")) == [
        ("dead_lettered", "non_retryable", 1),
        ("dead_lettered", "non_retryable", 2),
    ]
    assert RetryScheduled.objects.count() == 0
    assert DocumentPublished.objects.count() == 0
