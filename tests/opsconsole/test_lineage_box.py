"""The Lineage box of the top bar: any id the console knows leads to a page that exists; any other is said so."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

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
    assert f'{said} <code class="wanted">{unknown}</code>' in page


def test_a_text_that_is_no_id_is_echoed_escaped_on_the_consoles_page(ops_client):
    typed = '<script>alert("x")</script>&'
    response = ops_client.get(reverse("ops:lineage_of"), {"id": typed})
    assert response.status_code == 404
    page = console_page(response)
    assert "<script>alert" not in page
    assert '<code class="wanted">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;</code> is not an id' in page


def test_the_lineage_of_an_unknown_trace_is_the_same_page(ops_client):
    unknown = uuid.uuid4()
    response = ops_client.get(reverse("ops:lineage", args=[unknown]))
    assert response.status_code == 404
    assert f'<code class="wanted">{unknown}</code>' in console_page(response)
