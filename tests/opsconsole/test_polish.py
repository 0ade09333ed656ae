"""The console without rough edges: names and titles, links that lead somewhere, a short date drill-down, only the
remediations that apply, and confirm pages that open without an error."""

from __future__ import annotations

import datetime
import re
import uuid
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import time_machine
from django.urls import reverse

from checkout import services, state
from checkout.models import Courier
from opsconsole.site import ops_site
from pipelines.models import ParkedItem
from tests.checkout.conftest import order_body

# A plural made by appending "s" is wrong after these endings (entrys, verifieds, dispatchs, picked ups, aliass).
IRREGULAR_ENDINGS = ("y", "s", "x", "z", "ch", "sh")
PARTICIPLE = re.compile(r"(ed|wn|en|up|out)$")


def naive_plural_is_wrong(name: str) -> bool:
    words = name.split()
    ends = words[-1].endswith(IRREGULAR_ENDINGS) and not words[-1].endswith(("ay", "ey", "oy"))
    # "revised order" is fine; a participle after the noun ("consumer verified", "order picked up") is not.
    return ends or any(PARTICIPLE.search(word) for word in words[1:])


def test_no_admin_model_has_a_naive_plural(db):
    wrong = {}
    for model in ops_site._registry:
        meta = model._meta
        name, plural = str(meta.verbose_name), str(meta.verbose_name_plural)
        if plural == f"{name}s" and naive_plural_is_wrong(name):
            wrong[meta.label] = plural
    assert wrong == {}


def test_the_plural_check_catches_the_plurals_django_would_make():
    for name in ("error sink entry", "consumer verified", "order ready for dispatch", "order picked up", "ftgo alias"):
        assert naive_plural_is_wrong(name), name
    for name in ("order request", "revised order", "kitchen task", "ops action"):
        assert not naive_plural_is_wrong(name), name


def test_every_admin_model_has_a_title_of_its_own(ops_client, dead_order):
    """``str(obj)`` of a stored row (or, for a table still empty here, of a blank instance) is never Django's
    ``<Model> object (<pk>)``."""
    services.place_order(order_body(), "titles-happy")
    default = re.compile(r"^\w+ object \(.*\)$")
    stored, defaults = set(), {}
    for model in ops_site._registry:
        row = model._default_manager.order_by().first()
        if row is not None:
            stored.add(model._meta.label)
        title = str(row if row is not None else model())
        if default.match(title):
            defaults[model._meta.label] = title
    assert defaults == {}
    ledgers = {"ErrorSinkEntry", "ParkedItem", "CheckpointLog", "LineageLink", "RetryScheduled", "RetryClaim"}
    assert {f"pipelines.{name}" for name in ledgers | {"ParkingOutcome", "Trace"}} <= stored


def test_the_console_offers_no_view_site_link_to_a_page_that_does_not_exist(ops_client, dead_order):
    page = ops_client.get(reverse("ops:index")).content.decode()
    assert ops_site.site_url is None
    assert "View site" not in page


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href and not href.startswith(("#", "mailto:", "javascript:")):
            self.hrefs.append(href)


SKIP = ("/ops/logout/",)  # logging out would end the crawl's session
OWN_SCREENS = ("/ops/remediation/", "/ops/lineage/", "/ops/errors/")
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|(?<=/)[\w%-]*\d[\w%-]*(?=/)")


def test_every_link_of_the_console_pages_leads_to_a_page(ops_client, dead_order):
    """Crawl from the dashboard, an order's lineage and an error entry: every console link answers 200 or 302."""
    Courier.objects.update(available=True)
    services.place_order(order_body(), "crawl-happy")
    services.place_order(order_body(consumer="dave"), "crawl-review")
    entry = ParkedItem.objects.get(trace_id=dead_order).pk
    start = [reverse("ops:index"), reverse("ops:lineage", args=[dead_order]), f"/ops/lineage/of/?id={entry}"]
    seen: dict[str, int] = {}
    # One URL per shape (path with its ids wildcarded; for the console's own screens, the query's names too).
    shapes: set[tuple[str, frozenset[str]]] = set()
    queue = list(start)
    while queue:
        url = queue.pop(0)
        parts = urlsplit(url)
        own = parts.path.startswith(OWN_SCREENS)  # a changelist's sort and filter links are Django's own
        shape = (ID.sub("*", parts.path), frozenset(k for k, _ in parse_qsl(parts.query)) if own else frozenset())
        if url in seen or shape in shapes:
            continue
        shapes.add(shape)
        response = ops_client.get(url)
        seen[url] = response.status_code
        if response.status_code in (301, 302):
            queue.append(urljoin(url, response["Location"]))
            continue
        if not url.startswith("/ops/") or response.status_code != 200 or "text/html" not in response["Content-Type"]:
            continue  # links are followed from the console's own pages only
        parser = Links()
        parser.feed(response.content.decode())
        for href in parser.hrefs:
            absolute = urljoin(url, href)
            parts = urlsplit(absolute)
            if parts.netloc not in ("", "testserver") or parts.path in SKIP or "/static/" in parts.path:
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target not in seen:
                queue.append(target)
    broken = {url: code for url, code in seen.items() if code not in (200, 302)}
    assert broken == {}
    assert len(seen) > 100  # the crawl reached the changelists, rows, lineages and confirm pages


def test_only_the_remediations_that_apply_are_offered_with_why_the_others_are_not(ops_client, dead_order):
    page = ops_client.get(reverse("ops:lineage", args=[dead_order])).content.decode()
    block = page[page.index('id="remediation"') :]
    buttons = re.findall(r'class="button" href="/ops/remediation/([\w-]+)/', block)
    assert buttons == ["redrive", "assign-courier", "ops-cancel"]
    assert (
        "<strong>Resolve payment review</strong>: does not apply, the order&#x27;s payment does not require review"
        in block
    )

    Courier.objects.update(available=True)
    review = services.place_order(order_body(consumer="dave"), "applies-review").view["orderId"]
    page = ops_client.get(reverse("ops:lineage", args=[review])).content.decode()
    block = page[page.index('id="remediation"') :]
    assert re.findall(r'class="button" href="/ops/remediation/([\w-]+)/', block) == [
        "ops-cancel",
        "resolve-payment-review",
    ]
    assert "<strong>Redrive</strong>: does not apply, nothing is dead-lettered for this order" in block
    assert "<strong>Assign a courier</strong>: does not apply, a courier is already assigned" in block


def test_the_payment_review_confirm_page_opens_without_an_error_and_asks_for_the_decision(ops_client, reference_data):
    review = services.place_order(order_body(consumer="dave"), "confirm-review").view["orderId"]
    url = reverse("ops:remediation", args=["resolve-payment-review"])
    page = ops_client.get(url, {"order": review}).content.decode()
    assert "INVALID_ARGUMENT" not in page and "Cannot preview" not in page and "refused" not in page
    assert "Choose approve or decline above" in page
    chosen = ops_client.get(url, {"order": review, "approved": "yes"}).content.decode()
    assert "PaymentReviewResolved" in chosen and "Choose approve" not in chosen
    assert state.order_view(uuid.UUID(review)).state == "REVIEW_REQUIRED"  # nothing ran


def test_a_confirm_page_without_its_choice_still_says_when_the_action_does_not_apply(ops_client, dead_order):
    url = reverse("ops:remediation", args=["resolve-payment-review"])
    page = ops_client.get(url, {"order": str(dead_order)}).content.decode()
    assert "Not allowed:</strong> the order&#x27;s payment does not require review" in page
    assert "INVALID_ARGUMENT" not in page


@pytest.fixture
def two_days_of_march(reference_data):
    for n, when in enumerate(
        [
            datetime.datetime(2025, 3, 4, 10, tzinfo=datetime.UTC),
            datetime.datetime(2025, 3, 4, 11, tzinfo=datetime.UTC),
            datetime.datetime(2025, 3, 19, 23, 59, tzinfo=datetime.UTC),
            datetime.datetime(2025, 7, 1, 0, 0, tzinfo=datetime.UTC),
        ]
    ):
        with time_machine.travel(when, tick=False):
            services.place_order(order_body(), f"dates-{n}")


def test_the_date_drill_down_lists_only_the_days_and_months_that_hold_rows(ops_client, two_days_of_march):
    changelist = reverse("ops:order_request_orderrequest_changelist")
    days = ops_client.get(changelist, {"created_at__year": 2025, "created_at__month": 3}).content.decode()
    listed = re.findall(r"created_at__day=(\d+)", days)
    assert sorted(set(listed), key=int) == ["4", "19"]
    months = ops_client.get(changelist, {"created_at__year": 2025}).content.decode()
    assert sorted(set(re.findall(r"created_at__month=(\d+)", months)), key=int) == ["3", "7"]
