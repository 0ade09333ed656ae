"""The Lineage box of the top bar: any id the console knows leads to a page that exists; any other is said so."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from pipelines.models import ErrorSinkEntry, OpsAction, StepPause
from tests.opsconsole.conftest import forwarded_entry
from tests.search.conftest import search

pytestmark = pytest.mark.django_db


def console_page(response) -> str:
    """A page in the console's layout (its header and its triage bar), not Django's bare error page."""
    page = response.content.decode()
    assert "TPFGo Ops Console" in page and 'class="ops-nav"' in page
    return page


def test_an_id_nothing_has_answers_the_consoles_page_saying_so(ops_client):
    unknown = uuid.uuid4()
    response = ops_client.get(reverse("ops:lineage_of"), {"id": f"  {unknown}  "})
    assert response.status_code == 404
    page = console_page(response)
    said = "No order, checkpoint, parked item or error-sink entry has the id"
    assert f'{said} <code class="wanted">{unknown}</code>,\n      no ops action, pause or bulk run either' in page


def test_a_text_that_is_no_id_is_echoed_escaped_on_the_consoles_page(ops_client):
    typed = '<script>alert("x")</script>&'
    response = ops_client.get(reverse("ops:lineage_of"), {"id": typed})
    assert response.status_code == 404
    page = console_page(response)
    assert "<script>alert" not in page
    assert '<code class="wanted">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;</code> is not an id:' in page


def test_the_lineage_of_an_unknown_trace_is_the_same_page(ops_client):
    unknown = uuid.uuid4()
    response = ops_client.get(reverse("ops:lineage", args=[unknown]))
    assert response.status_code == 404
    assert f'<code class="wanted">{unknown}</code>' in console_page(response)


def test_an_entry_another_instance_forwarded_leads_to_its_page_naming_that_instance(ops_client, dead_order):
    elsewhere, entry_id = uuid.uuid4(), uuid.uuid4()  # a trace the forwarding instance keeps: none of it is here
    forwarded_entry(elsewhere, entry_id)
    response = ops_client.get(reverse("ops:lineage_of"), {"id": str(entry_id)})
    assert response.status_code == 302
    assert response["Location"] == reverse("ops:pipelines_errorsinkentry_change", args=[entry_id])
    landed = ops_client.get(response["Location"])
    assert landed.status_code == 200 and f"{elsewhere} (kept by edge-1)" in console_page(landed)

    local = ErrorSinkEntry.objects.filter(trace_id=dead_order).first()  # this instance's entry: its lineage
    response = ops_client.get(reverse("ops:lineage_of"), {"id": str(local.pk)})
    assert response["Location"] == f"{reverse('ops:lineage', args=[dead_order])}?highlight={local.pk}"
    assert ops_client.get(response["Location"]).status_code == 200


def test_the_ids_of_an_ops_action_and_a_pause_lead_to_their_pages(ops_client, reference_data):
    paused = ops_client.post(
        reverse("ops:pauses"), {"do": "pause", "step": "dispatch.delivery_assigned", "reason": "night shift"}
    )
    assert paused.status_code == 302
    pause, action = StepPause.objects.get(), OpsAction.objects.get()  # `manage.py pause` prints the pause's id
    for wanted, page in [
        (pause.pk, reverse("ops:pipelines_steppause_change", args=[pause.pk])),
        (action.pk, reverse("ops:pipelines_opsaction_change", args=[action.pk])),
    ]:
        response = ops_client.get(reverse("ops:lineage_of"), {"id": str(wanted)})
        assert (response.status_code, response["Location"]) == (302, page)
        assert ops_client.get(page).status_code == 200


def test_the_box_keeps_an_unknown_id_as_typed_to_correct_it(ops_client):
    typed = '3e693fe3-4fc8-314b-a331-1bfe23766fe"><b>'
    page = console_page(ops_client.get(reverse("ops:lineage_of"), {"id": typed}))
    assert 'aria-label="Lineage of an id" value="3e693fe3-4fc8-314b-a331-1bfe23766fe&quot;&gt;&lt;b&gt;">' in page


def test_the_id_of_a_trace_that_is_no_order_leads_to_its_lineage(ops_client):
    query_id = uuid.UUID(search("red apple pie", key="box-query").view["queryId"])  # the search lane's trace
    response = ops_client.get(reverse("ops:lineage_of"), {"id": str(query_id)})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('ops:lineage', args=[query_id])}?highlight={query_id}"
    assert ops_client.get(response["Location"]).status_code == 200
