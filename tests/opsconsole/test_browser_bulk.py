"""Bulk remediation in a real browser: a gateway outage dead-lettered a dozen orders; ops preview them all,
one is redriven by hand in another tab meanwhile, then the bulk run redrives the rest with a progress bar and
reports the moved order as skipped. Screenshots of the preview and of the progress go to ``test-artifacts/``
(the docs show copies under ``docs/img/``). ORM calls stay outside the ``sync_playwright()`` block.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from checkout import demo, state
from checkout.bulk import place_orders
from pipelines.models import BulkRunResult, OpsAction
from tests.checkout.conftest import order_body
from tests.opsconsole.conftest import OPS_PASSWORD, make_ops_user
from tests.opsconsole.test_browser import ARGS, ARTIFACTS, CHROMIUM

ORDERS = 12
REASON = "gateway answered again at 14:05"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def outage(transactional_db: Any, settings: Any) -> list[uuid.UUID]:
    settings.TPFGO_RETRY_POLICIES = {"consumer-validation.payment_authorized": {"max_attempts": 1}}
    settings.TPFGO_BULK_REMEDIATION_BATCH = 4
    demo.load()
    make_ops_user()
    placed = place_orders([(order_body(paymentToken="tok_flaky_1"), f"browser-outage-{n}") for n in range(ORDERS)])
    return [uuid.UUID(p.view["orderId"]) for p in placed]


def test_ops_redrive_a_gateway_outage_in_bulk(live_server: Any, outage: list[uuid.UUID]) -> None:
    from playwright.sync_api import expect, sync_playwright

    moved = str(outage[5])
    base = live_server.url
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/ops/login/?next=/ops/errors/groups/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", OPS_PASSWORD)
            page.click("input[type=submit]")
            page.locator("#error-groups-table").get_by_role("link", name="Redrive its dead letters…").click()

            expect(page.locator("#bulk-summary")).to_have_text(f"Redrive: {ORDERS} orders")
            expect(page.locator("#bulk-preview-table tr.bulk-order")).to_have_count(ORDERS)
            expect(page.locator(f'tr.bulk-order[data-order="{moved}"]')).to_contain_text("RetryScheduled")
            page.fill("#id_reason", REASON)
            page.screenshot(path=str(ARTIFACTS / "ops-bulk-preview.png"), full_page=True)

            # Meanwhile, in another tab, someone redrives one of these orders by hand.
            other = context.new_page()
            other.goto(f"{base}/ops/remediation/redrive/?order={moved}")
            other.fill("#id_reason", "customer called")
            other.click("#confirm-button")
            expect(other.locator("#order-state")).to_contain_text("COMPLETED")
            other.close()

            calls: list[Any] = []

            def hold_the_second_batch(route: Any) -> None:  # so the screenshot shows a run half-way
                calls.append(route)
                if len(calls) != 2:
                    route.continue_()

            page.route("**/advance/", hold_the_second_batch)
            page.click("#confirm-button")
            expect(page.locator("#bulk-processed")).to_have_text("4")
            expect(page.locator("#bulk-progress")).to_have_attribute("max", str(ORDERS))
            page.screenshot(path=str(ARTIFACTS / "ops-bulk-progress.png"), full_page=True)
            calls[1].continue_()

            expect(page.locator("#bulk-finished")).to_be_visible()
            expect(page.locator("#bulk-done")).to_have_text(str(ORDERS - 1))
            expect(page.locator("#bulk-skipped")).to_have_text("1")
            skipped = page.locator(f'tr.bulk-result[data-order="{moved}"]')
            expect(skipped.locator("td.outcome")).to_have_text("skipped")
            expect(skipped).to_contain_text("moved since the preview")
            page.screenshot(path=str(ARTIFACTS / "ops-bulk-results.png"), full_page=True)
        finally:
            browser.close()

    assert Counter(state.order_view(o).state for o in outage) == {"COMPLETED": ORDERS}
    assert OpsAction.objects.filter(action="redrive", reason=REASON).count() == ORDERS - 1
    assert OpsAction.objects.filter(action="redrive", trace_id=outage[5]).get().reason == "customer called"
    assert OpsAction.objects.filter(action="bulk-redrive").count() == 1
    assert BulkRunResult.objects.get(trace_id=outage[5]).outcome == "skipped"
