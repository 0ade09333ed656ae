"""Pausing payment capture from the console in a real browser, then resuming it and watching the drain.

An ops user pauses ``payment-capture.payment_outcome`` with a reason; three orders placed meanwhile are held there
(0 gateway calls); the page lists the pause with its reason, who, since and "held 3" (the screenshot in
docs/operations.md); the user resumes it and sees the drain's progress go from 0 / 3 to 3 / 3 as the worker
releases them. Database work happens between browser sessions (Playwright's sync API runs an event loop, and Django
refuses ORM calls from an async context).
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from checkout import demo, services
from checkout.terminal_order_state.models import TerminalOrderState
from pipelines.models import OpsAction, StepPause
from pipelines.recovery import drain, retries
from tests.checkout import recording_gateway
from tests.checkout.conftest import order_body
from tests.opsconsole.conftest import OPS_PASSWORD, make_ops_user
from tests.opsconsole.test_browser import ARGS, CHROMIUM

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
RELEASED: list[tuple[uuid.UUID, int]] = []

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def record_release(parked: uuid.UUID, attempt: int, due: datetime.datetime) -> None:
    RELEASED.append((parked, attempt))


@pytest.fixture
def scene(transactional_db: Any) -> Any:
    demo.load()
    make_ops_user()
    recording_gateway.CAPTURE_CALLS.clear()
    RELEASED.clear()
    with override_settings(
        TPFGO_PAYMENT_GATEWAY="tests.checkout.recording_gateway.CountingGateway",
        TPFGO_RETRY_ENQUEUE="tests.opsconsole.test_pause_browser.record_release",
    ):
        yield


def session(base: str, steps: Any) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{base}/ops/login/?next=/ops/pauses/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", OPS_PASSWORD)
            page.click("input[type=submit]")
            steps(page)
        finally:
            browser.close()


def test_ops_pause_capture_see_it_held_resume_and_watch_the_drain(live_server: Any, scene: None) -> None:
    from playwright.sync_api import expect

    row = 'tr.pause[data-step="payment-capture.payment_outcome"]'

    def pause(page: Any) -> None:
        expect(page.locator("#active-pauses")).to_contain_text("No step is paused.")
        page.select_option("#id_step", "payment-capture.payment_outcome")
        page.fill("#id_reason", "gateway answers 504 to captures")
        page.click("#pause-button")
        expect(page.locator(".messagelist")).to_contain_text("Paused payment-capture.payment_outcome by ops")
        expect(page.locator(row)).to_contain_text("gateway answers 504 to captures")

    session(live_server.url, pause)
    orders = [services.place_order(order_body(), f"paused-browser-{n}").view["orderId"] for n in range(3)]
    assert recording_gateway.CAPTURE_CALLS == []
    paused = StepPause.objects.get()

    def resume(page: Any) -> None:
        expect(page.locator(f"{row} td.held")).to_have_text("3")
        expect(page.locator(row)).to_contain_text("every item")
        expect(page.locator(row)).to_contain_text("ops")
        DOCS_IMG.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / "ops-paused-step.png"), full_page=True)
        page.locator(f"{row} input[name=reason]").fill("gateway fixed by the provider")
        page.locator(f"{row} input[type=submit]").click()
        expect(page.locator(".messagelist")).to_contain_text("Resumed payment-capture.payment_outcome by ops")
        expect(page.locator("#active-pauses")).to_contain_text("No step is paused.")
        expect(page.locator('tr.drain[data-step="payment-capture.payment_outcome"] td.drained')).to_have_text("0 / 3")

    session(live_server.url, resume)
    assert drain.release(paused.id) == 3  # one drain run: 3 fit in the default rate's first interval
    assert [retries.run_attempt(parked, attempt) for parked, attempt in RELEASED] == ["inserted"] * 3

    def drained(page: Any) -> None:
        progress = 'tr.drain[data-step="payment-capture.payment_outcome"]'
        expect(page.locator(f"{progress} td.drained")).to_have_text("3 / 3")
        expect(page.locator(f"{progress} td.remaining")).to_have_text("0")

    session(live_server.url, drained)
    assert sorted(map(str, recording_gateway.CAPTURE_CALLS)) == sorted(orders)
    assert TerminalOrderState.objects.filter(order_id__in=orders, outcome="COMPLETED").count() == 3
    assert list(OpsAction.objects.order_by("created_at").values_list("action", flat=True)) == [
        "pause-step",
        "resume-step",
    ]
