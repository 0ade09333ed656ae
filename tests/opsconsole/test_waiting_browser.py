"""The dashboard's waiting orders in a real browser: every await with its waiting orders, their age and deadline,
the escalated deliveries, and a payment review resolved from there in two clicks (Approve…, then Run).

Orders are placed in the past with time-machine (outside the ``sync_playwright()`` block: the ORM refuses an
async context), so their ages are real; the page is read at the real time.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from checkout import demo, services
from checkout.models import Courier
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.models import OpsAction
from pipelines.recovery import deadlines
from tests.checkout.conftest import order_body
from tests.opsconsole.conftest import OPS_PASSWORD, make_ops_user
from tests.opsconsole.test_browser import ARGS, ARTIFACTS, CHROMIUM

REASON = "the consumer confirmed the purchase by phone"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


def _placed(minutes_ago: float, key: str, **body: Any) -> str:
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=minutes_ago), tick=False):
        return str(services.place_order(order_body(**body), key).view["orderId"])


@pytest.fixture
def scene(transactional_db: Any) -> dict[str, str]:
    """One order waiting on each await, one escalated dropoff, and one completed order."""
    demo.load()
    make_ops_user()
    services.place_order(order_body(), "waiting-happy")
    orders = {
        "acceptance": _placed(
            25, "waiting-acceptance", restaurant="chez-manuel", items=[{"menuItemId": "omelette", "quantity": 1}]
        ),
        "review": _placed(180, "waiting-review", consumer="dave"),
    }
    Courier.objects.exclude(id="courier-max").update(available=False)
    Courier.objects.filter(id="courier-max").update(available=True)
    orders["pickup"] = _placed(12, "waiting-pickup")
    escalated = _placed(95, "waiting-escalated")
    dispatch = services.get_order(escalated)["dispatchId"]
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=90), tick=False):
        services.pickup(dispatch)
    assert [f.ran for f in deadlines.expire(step="order_delivered")] == ["delivery-escalation"]
    orders["escalated"] = escalated
    Courier.objects.update(available=True)
    return orders


def test_the_dashboard_lists_every_await_and_resolves_a_review_in_two_clicks(
    live_server: Any, scene: dict[str, str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    review = scene["review"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{live_server.url}/ops/login/?next=/ops/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", OPS_PASSWORD)
            page.click("input[type=submit]")

            panel = page.locator("#waiting")
            expect(panel).to_be_visible()
            rows = {
                "acceptance": ("restaurant-acceptance/acceptance_decision", "25 min"),
                "pickup": ("delivery-execution/order_picked_up", "12 min"),
                "review": ("order-finalization/terminal_order_state", "3 h 00 min"),
            }
            for name, (await_name, age) in rows.items():
                row = panel.locator(f'tr.wait[data-await="{await_name}"][data-trace="{scene[name]}"]')
                expect(row).to_have_count(1)
                expect(row).to_contain_text(age)
            expect(panel.locator("tr.wait")).to_have_count(3)
            expect(panel.locator('tr.await-empty[data-await="delivery-execution/order_delivered"]')).to_have_count(1)
            expect(panel.locator(f'tr.escalation[data-trace="{scene["escalated"]}"]')).to_contain_text("dropoff")
            # docs/img/ops-waiting.png is this screenshot (test-artifacts/, as the console's other pictures).
            page.screenshot(path=str(ARTIFACTS / "ops-waiting.png"), full_page=True)

            # Two clicks: Approve… opens the confirm page with its preview; Run resolves it.
            review_row = panel.locator(f'tr.wait[data-trace="{review}"]')
            review_row.get_by_role("link", name="Approve…").click()
            preview = page.locator(f'.ops-preview[data-order="{review}"]')
            expect(preview.locator(".inserts")).to_contain_text("PaymentReviewResolved")
            expect(page.locator(".errornote, .messagelist .error")).to_have_count(0)
            page.fill("#id_reason", REASON)
            page.click("#confirm-button")
            expect(page.locator(".messagelist .success")).to_contain_text("state COMPLETED")

            page.goto(f"{live_server.url}/ops/")
            expect(page.locator(f'#waiting tr.wait[data-trace="{review}"]')).to_have_count(0)
            expect(
                page.locator('#waiting tr.await-empty[data-await="order-finalization/terminal_order_state"]')
            ).to_have_count(1)
        finally:
            browser.close()

    assert TerminalOrderState.objects.get(order_id=uuid.UUID(review)).outcome == TerminalOrderState.COMPLETED
    action = OpsAction.objects.get(trace_id=review)
    assert (action.action, action.actor, action.reason) == ("resolve-payment-review", "ops", REASON)
