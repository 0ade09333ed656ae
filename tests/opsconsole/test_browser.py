"""The console in a real browser: Playwright drives Debian's chromium against a live server.

An ops user logs in, sees the funnel, finds the order dead-lettered at dispatch for want of a courier, opens its
lineage, makes a courier available (reference data), redrives the order with a reason, and sees it complete.
Database work happens outside the ``sync_playwright()`` block: Playwright's sync API runs an event loop, and
Django refuses ORM calls from an async context.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from checkout import demo, services
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.models import OpsAction
from tests.checkout.conftest import order_body
from tests.opsconsole.conftest import OPS_PASSWORD, dead_lettered_order, make_ops_user

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REASON = "courier-ann is back on shift"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def scene(transactional_db: Any) -> uuid.UUID:
    """One completed order (for the funnel), then one dead-lettered at dispatch because no courier is available."""
    demo.load()
    make_ops_user()
    services.place_order(order_body(), "browser-happy-1")
    return dead_lettered_order("browser-dead-1")


def test_ops_redrive_a_dead_letter_from_the_console(live_server: Any, scene: uuid.UUID) -> None:
    from playwright.sync_api import expect, sync_playwright

    order_id = str(scene)
    base = live_server.url
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(20_000)

            page.goto(f"{base}/ops/login/?next=/ops/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", OPS_PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator("#funnel")).to_be_visible()
            expect(page.locator('#funnel tr[data-checkpoint="OrderRequest"] td.num strong')).to_have_text("2")
            expect(page.locator('#funnel tr[data-checkpoint="TerminalOrderState"] td.num strong')).to_have_text("1")
            dead = page.locator(f'#dead-letters tr[data-trace="{order_id}"]')
            expect(dead).to_contain_text("dispatch / delivery_assigned")
            expect(dead).to_contain_text("retry_exhausted")
            page.screenshot(path=str(ARTIFACTS / "ops-dashboard.png"), full_page=True)

            dead.locator("a.lineage-link").click()
            expect(page.locator("svg.ops-lineage")).to_be_visible()
            expect(page.locator("#order-state")).to_contain_text("READY_FOR_DISPATCH")
            expect(page.locator("svg.ops-lineage a.node-dead")).to_have_count(1)
            expect(page.locator('svg.ops-lineage a[data-type="KitchenTask"]')).to_have_count(2)
            expect(page.locator('svg.ops-lineage a[data-type="DeliveryAssigned"]')).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "ops-lineage.png"), full_page=True)
            lineage_url = page.url

            page.locator("nav.ops-nav").get_by_role("link", name="Couriers").click()
            page.locator("#result_list").get_by_role("link", name="courier-ann", exact=True).click()
            page.check("#id_available")
            page.click("input[name=_save]")
            expect(page.locator(".messagelist")).to_contain_text("changed successfully")

            page.goto(lineage_url)
            page.locator("#remediation").get_by_role("link", name="Redrive…").click()
            expect(page.locator(f'.ops-preview[data-order="{order_id}"] .inserts')).to_contain_text("DeliveryAssigned")
            page.fill("#id_reason", REASON)
            page.screenshot(path=str(ARTIFACTS / "ops-redrive-confirm.png"), full_page=True)
            page.click("#confirm-button")
            expect(page.locator(".messagelist .success")).to_contain_text("state COMPLETED")
            expect(page.locator("#order-state")).to_contain_text("COMPLETED")
            expect(page.locator('svg.ops-lineage a[data-type="TerminalOrderState"]')).to_have_count(1)
            expect(page.locator("#ops-actions")).to_contain_text(REASON)

            page.goto(f"{base}/ops/delivery_assigned/deliveryassigned/")
            expect(page.locator("#result_list tbody tr")).to_have_count(2)
            expect(page.locator(".object-tools .addlink")).to_have_count(0)
            expect(page.locator("select[name=action]")).to_have_count(0)
            expect(page.locator("#result_list input, #result_list select")).to_have_count(0)
            page.locator("#result_list tbody tr").first.locator("th a").click()
            expect(page.locator("#content h1")).to_contain_text("View delivery assigned")
            expect(page.locator("input[type=submit], button[type=submit]").filter(has_text="Save")).to_have_count(0)
            expect(page.locator("a.deletelink")).to_have_count(0)
        finally:
            browser.close()

    terminal = TerminalOrderState.objects.get(order_id=scene)
    assert terminal.outcome == TerminalOrderState.COMPLETED
    action = OpsAction.objects.get(trace_id=scene)
    assert (action.action, action.actor, action.reason) == ("redrive", "ops", REASON)
