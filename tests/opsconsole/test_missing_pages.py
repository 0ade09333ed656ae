"""An address of the console that names nothing it has (a mistyped action, an old run id, a consumer since
deleted) answers the console's own 404 page: the triage bar, what is missing and where to look; never Django's
bare "Not Found", which leaves the console."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db


def console_404(response) -> str:
    page = response.content.decode()
    assert response.status_code == 404 and 'class="ops-nav"' in page and 'id="not-found"' in page, page[:300]
    return page


def test_an_unknown_remediation_names_the_ones_the_console_has(ops_client, dead_order):
    before = all_insert_only_counts()
    page = console_404(ops_client.get("/ops/remediation/redrivee/", {"order": str(dead_order)}))
    assert "no remediation named &#x27;redrivee&#x27;" in page and "redrive, assign-courier, ops-cancel" in page
    post = ops_client.post("/ops/remediation/redrivee/", {"order": str(dead_order), "reason": "typo"})
    console_404(post)
    assert all_insert_only_counts() == before


def test_an_unknown_bulk_remediation_links_the_previews_of_the_ones_it_has(ops_client, dead_order):
    page = console_404(ops_client.get("/ops/bulk/redrivee/", {"state": "dead_letter"}))
    assert f'href="{reverse("ops:bulk_remediation", args=["redrive"])}"' in page


@pytest.mark.parametrize("run_id", [str(uuid.UUID(int=7)), "not-a-run-id"])
def test_an_unknown_bulk_run_says_so_on_the_console_page_and_to_the_progress_script(ops_client, db, run_id):
    page = console_404(ops_client.get(f"/ops/bulk/runs/{run_id}/"))
    assert f"No bulk run has the id {run_id}" in page
    assert f'href="{reverse("ops:pipelines_opsaction_changelist")}"' in page
    console_404(ops_client.post(f"/ops/bulk/runs/{run_id}/advance/"))
    polled = ops_client.post(f"/ops/bulk/runs/{run_id}/advance/", HTTP_ACCEPT="application/json")
    assert (polled.status_code, polled.json()["error"]["code"]) == (404, "NOT_FOUND")


def test_erasing_an_unknown_consumer_says_so_and_erases_nothing(ops_client, reference_data):
    before = all_insert_only_counts()
    page = console_404(ops_client.post("/ops/erasure/nobody/", {"reason": "asked to be forgotten"}))
    assert "No consumer has the id &#x27;nobody&#x27;" in page
    assert all_insert_only_counts() == before
