"""``manage.py pause`` and ``manage.py resume``: the same pauses as the console, audited, with clear refusals."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from pipelines.engine import pauses
from pipelines.models import OpsAction, PausedItem, StepPause, StepResume
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_pause_list_and_resume_from_the_command_line(demo_data):
    pauses.invalidate()
    said = run("pause", "payment-capture.payment_outcome", "--key", "restaurant=pizza-roma", "--reason", "gateway")
    assert said.startswith("paused payment-capture.payment_outcome for restaurant=pizza-roma (pause ")
    place()
    listed = run("pause", "--list")
    assert "payment-capture.payment_outcome for restaurant=pizza-roma" in listed and "held 1" in listed

    resumed = run("resume", "payment-capture.payment_outcome", "--key", "restaurant=pizza-roma", "--reason", "ok")
    assert "held 1, drained 0, remaining 1" in resumed  # tests drive the drain themselves
    assert run("pause", "--list") == "no step is paused\n"
    row = StepPause.objects.get()
    assert row.actor.startswith("cli:") and StepResume.objects.get(pause=row).reason == "ok"
    assert list(OpsAction.objects.order_by("created_at").values_list("action", "trace_id")) == [
        ("pause-step", row.id),
        ("resume-step", row.id),
    ]
    assert PausedItem.objects.filter(pause=row).count() == 1
    pauses.invalidate()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pause", "payment-capture.payment_outcome"), "INVALID_ARGUMENT: a remediation needs who runs it"),
        (("pause", "payment_outcome", "--reason", "x"), "INVALID_ARGUMENT: 'payment_outcome' is not PIPELINE.STEP"),
        (("pause", "payment-capture.payment_outcome", "--key", "restaurant", "--reason", "x"), "is not NAME=VALUE"),
        (("pause",), "INVALID_ARGUMENT: name the step to pause"),
        (("resume", "payment-capture.payment_outcome", "--reason", "x"), "NOT_FOUND: payment-capture.payment_outcome"),
    ],
)
def test_bad_commands_are_refused_and_store_nothing(db, args, message):
    with pytest.raises(CommandError) as refused:
        run(*args)
    assert message in str(refused.value)
    assert StepPause.objects.count() == 0 and OpsAction.objects.count() == 0
