"""A reason longer than an action records (``pipelines.actions.MAX_REASON``) is refused, never cut: on each of the
console's forms that ask why (a remediation's confirm page, a bulk run, a pause, an erasure) and at the engine's
own check every command and API goes through. The forms' ``maxlength`` is that same limit."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from checkout.models import Consumer
from pipelines import InvalidArgument, actions
from tests.checkout.erasure_helpers import make_consumer
from tests.conftest import all_insert_only_counts
from tests.opsconsole.conftest import dead_lettered_order
from tests.opsconsole.test_bulk import DISPATCH, plan_of
from tests.opsconsole.test_confirm_page import confirm_url, preview_seq

pytestmark = pytest.mark.django_db

LONGEST = "w" * actions.MAX_REASON
TOO_LONG = LONGEST + "x"
REFUSAL = f"reason: at most {actions.MAX_REASON} characters"


def _said(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request)) + response.content.decode()


def test_the_engine_takes_the_longest_reason_and_refuses_one_character_more() -> None:
    assert actions.check_who("ops", LONGEST) == ("ops", LONGEST)
    with pytest.raises(InvalidArgument) as refused:
        actions.check_who("ops", TOO_LONG)
    assert [(d.field, d.issue) for d in refused.value.details] == [
        ("reason", f"at most {actions.MAX_REASON} characters")
    ]


def test_a_remediation_with_a_reason_too_long_is_refused_and_stores_nothing(ops_client, reference_data) -> None:
    order = dead_lettered_order("reason-too-long")
    seq = preview_seq(ops_client, "ops-cancel", order)
    page = ops_client.get(confirm_url("ops-cancel"), {"order": str(order)}).content.decode()
    assert f'maxlength="{actions.MAX_REASON}"' in page
    before = all_insert_only_counts()
    response = ops_client.post(
        confirm_url("ops-cancel"), {"order": str(order), f"expected_seq_{order}": seq, "reason": TOO_LONG}, follow=True
    )
    assert REFUSAL in _said(response)
    assert all_insert_only_counts() == before


def test_a_bulk_run_with_a_reason_too_long_is_refused_and_stores_nothing(ops_client, reference_data) -> None:
    dead_lettered_order("bulk-reason-too-long")
    url = reverse("ops:bulk_remediation", args=["redrive"])
    page = ops_client.get(url, DISPATCH).content.decode()
    assert f'maxlength="{actions.MAX_REASON}"' in page
    before = all_insert_only_counts()
    response = ops_client.post(url, {"plan": plan_of(page), "reason": TOO_LONG}, follow=True)
    assert REFUSAL in _said(response)
    assert all_insert_only_counts() == before


def test_a_pause_with_a_reason_too_long_is_refused_and_stores_nothing(ops_client) -> None:
    page = ops_client.get("/ops/pauses/").content.decode()
    assert page.count(f'maxlength="{actions.MAX_REASON}"') == 1  # the pause's form (each pause's resume has one too)
    before = all_insert_only_counts()
    response = ops_client.post(
        "/ops/pauses/", {"do": "pause", "step": "payment-capture.payment_outcome", "reason": TOO_LONG}, follow=True
    )
    assert REFUSAL in _said(response)
    assert all_insert_only_counts() == before


def test_an_erasure_with_a_reason_too_long_is_refused_and_erases_nothing(ops_client, reference_data) -> None:
    consumer = make_consumer()
    url = reverse("ops:erasure", args=[consumer.id])
    assert f'maxlength="{actions.MAX_REASON}"' in ops_client.get(url).content.decode()
    before = all_insert_only_counts()
    response = ops_client.post(url, {"reason": TOO_LONG}, follow=True)
    assert REFUSAL in _said(response)
    assert all_insert_only_counts() == before
    assert Consumer.objects.get(pk=consumer.id).personal_key is not None
