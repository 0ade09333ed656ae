"""``manage.py pause`` and ``manage.py resume``: the same pauses as the console, audited, with clear refusals."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from pipelines.models import OpsAction, PausedItem, StepPause, StepResume
from tests.checkout.conftest import place

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_pause_list_and_resume_from_the_command_line(demo_data):
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pause", "payment-capture.payment_outcome"), "INVALID_ARGUMENT: a remediation needs who runs it"),
        (("pause", "payment_outcome", "--reason", "x"), "INVALID_ARGUMENT: 'payment_outcome' is not PIPELINE.STEP"),
        (("pause", "payment-capture.payment_outcome", "--key", "restaurant", "--reason", "x"), "is not NAME=VALUE"),
        (("pause",), "INVALID_ARGUMENT: name the step to pause"),
        (("pause", "payment-capture.payment_outcome", "--reason", "x", "--list"), "--list only lists"),
        (("resume", "payment-capture.payment_outcome", "--reason", "x"), "NOT_FOUND: payment-capture.payment_outcome"),
    ],
)
def test_bad_commands_are_refused_and_store_nothing(db, args, message):
    with pytest.raises(CommandError) as refused:
        run(*args)
    assert message in str(refused.value)
    assert StepPause.objects.count() == 0 and OpsAction.objects.count() == 0


def test_an_order_pause_given_in_another_form_of_its_id_is_found_by_that_form(demo_data):
    order = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"  # capitals, as some tools print a UUID
    said = run("pause", "payment-capture.payment_outcome", "--key", f"order={order}", "--reason", "one order")
    assert f"for order={order.lower()} (pause " in said
    resumed = run("resume", "payment-capture.payment_outcome", "--key", f"order={{{order}}}", "--reason", "ok")
    assert resumed.startswith(f"resumed payment-capture.payment_outcome for order={order.lower()}")
    assert StepResume.objects.get().pause == StepPause.objects.get(value=order.lower())


def test_a_pause_for_a_restaurant_that_does_not_exist_is_refused(demo_data):
    with pytest.raises(CommandError) as refused:
        run("pause", "dispatch.delivery_assigned", "--key", "restaurant=chez-manual", "--reason", "typo")
    assert "INVALID_ARGUMENT: no input has restaurant=chez-manual: no restaurant 'chez-manual'" in str(refused.value)
    assert StepPause.objects.count() == 0 and OpsAction.objects.count() == 0


def test_resume_refuses_a_step_and_an_id_together_and_resumes_neither(demo_data):
    run("pause", "payment-capture.payment_outcome", "--reason", "gateway")
    run("pause", "dispatch.delivery_assigned", "--key", "restaurant=pizza-roma", "--reason", "kitchen")
    other = StepPause.objects.get(step="delivery_assigned")
    for named in (("payment-capture.payment_outcome",), ("--key", "restaurant=pizza-roma")):
        with pytest.raises(CommandError, match="by PIPELINE.STEP \\(and --key\\) or by --id, not both"):
            run("resume", *named, "--id", str(other.id), "--reason", "ok")
    assert StepResume.objects.count() == 0 and OpsAction.objects.count() == 2


def test_resume_with_progress_and_a_reason_is_refused_and_resumes_nothing(demo_data):
    run("pause", "payment-capture.payment_outcome", "--reason", "gateway")
    with pytest.raises(CommandError, match="--progress only reads a drain; resume without it"):
        run("resume", "payment-capture.payment_outcome", "--reason", "fixed", "--progress")
    assert StepResume.objects.count() == 0 and OpsAction.objects.count() == 1
    assert run("resume", "payment-capture.payment_outcome", "--progress") == "held 0, drained 0, remaining 0\n"
