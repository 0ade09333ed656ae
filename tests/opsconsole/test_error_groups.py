"""The grouped error sink: each group's link lists the entries its counts are over, in the window chosen."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.urls import reverse

from checkout import services
from checkout.models import Courier
from tests.checkout.conftest import order_body
from tests.opsconsole.test_confirm_page import confirm_url, preview_seq

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(("window", "entries"), [("1", 1), ("7", 2), ("all", 3)])
def test_a_groups_entries_link_lists_the_entries_its_window_counts(ops_client, reference_data, window, entries):
    Courier.objects.update(available=False)
    for days_ago in (0, 3, 20):  # one dispatch failure each: one entry of the same group
        with time_machine.travel(NOW - datetime.timedelta(days=days_ago), tick=False):
            services.place_order(order_body(), f"failed-{days_ago}-days-ago")

    with time_machine.travel(NOW, tick=False):
        page = ops_client.get(reverse("ops:error_groups"), {"window": window}).content.decode()
        row = re.search(
            r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>.*?<a href="([^"]+)">entries', page, re.S
        )
        assert row and (int(row.group(1)), int(row.group(2))) == (entries, entries)
        listed = ops_client.get(row.group(3).replace("&amp;", "&")).content.decode()
    assert listed.count('<td class="field-short_message">') == entries


def test_a_groups_list_shows_the_error_class_and_window_it_is_narrowed_to(ops_client, dead_order):
    page = ops_client.get(reverse("ops:error_groups"), {"window": "1"}).content.decode()
    link = re.search(r'<a href="([^"]+)">entries', page).group(1).replace("&amp;", "&")
    listed = ops_client.get(link).content.decode()
    chosen = re.findall(r'<li class="selected">\s*<a href="[^"]*"[^>]*>([^<]*)</a>', listed)
    assert "NoCourierAvailable" in chosen and [c for c in chosen if c.startswith("since ")]
    assert "Clear all filters" in listed


def test_a_since_that_is_no_date_time_is_a_bad_lookup_not_an_error(ops_client, dead_order):
    changelist = reverse("ops:pipelines_errorsinkentry_changelist")
    response = ops_client.get(changelist, {"since": "yesterday"})
    assert (response.status_code, response["Location"]) == (302, f"{changelist}?e=1")


def test_each_error_group_on_the_dashboard_links_to_its_entries_of_the_last_7_days(ops_client, reference_data):
    Courier.objects.update(available=False)
    for days_ago in (0, 3, 20):
        with time_machine.travel(NOW - datetime.timedelta(days=days_ago), tick=False):
            services.place_order(order_body(), f"failed-{days_ago}-days-ago")

    with time_machine.travel(NOW, tick=False):
        page = ops_client.get(reverse("ops:index")).content.decode()
        card = page[page.index('id="error-groups"') :]
        link = re.search(r'<a href="([^"]+)">NoCourierAvailable</a>', card)
        assert link and re.search(r"<td class=\"num\">2</td><td class=\"num\">2</td>", card)  # 2 orders, 2 entries
        listed = ops_client.get(link.group(1).replace("&amp;", "&")).content.decode()
    assert listed.count('<td class="field-short_message">') == 2


def group_row(page: str, error_short: str) -> str:
    return next(row for row in page.split("<tr>") if error_short in row)


def test_a_group_whose_items_still_retry_offers_no_redrive_of_dead_letters(ops_client, reference_data):
    Courier.objects.update(available=False)
    services.place_order(order_body(), "still-retrying")  # parked, its next attempt scheduled: no dead letter

    row = group_row(ops_client.get(reverse("ops:error_groups")).content.decode(), "NoCourierAvailable")
    assert '<td class="num dead-count">0</td>' in row
    assert "Redrive its dead letters" not in row and 'class="bulk-link"' not in row


def test_a_groups_dead_letter_count_is_what_its_redrive_previews_and_goes_once_redriven(ops_client, dead_order):
    services.place_order(order_body(), "still-retrying")  # the same group, retrying: not counted, not previewed

    row = group_row(ops_client.get(reverse("ops:error_groups")).content.decode(), "NoCourierAvailable")
    assert '<td class="num dead-count">1</td>' in row
    preview = ops_client.get(re.search(r'class="bulk-link" href="([^"]+)"', row).group(1).replace("&amp;", "&"))
    assert preview.content.decode().count('class="bulk-order"') == 1

    Courier.objects.filter(pk="courier-ann").update(available=True)
    seq = preview_seq(ops_client, "redrive", dead_order)
    form = {"order": str(dead_order), f"expected_seq_{dead_order}": seq, "reason": "ann is on shift"}
    ops_client.post(confirm_url("redrive"), form)
    row = group_row(ops_client.get(reverse("ops:error_groups")).content.decode(), "NoCourierAvailable")
    assert '<td class="num dead-count">0</td>' in row and 'class="bulk-link"' not in row
