"""Fork from a checkpoint in a real browser: on a completed order's lineage page ops choose "Fork from here" on
``OrderApproved``, read the preview (the capture reuses the order's key), give a reason and run it; the lineage then
shows both branches, the parent's later checkpoints marked superseded. A dead-lettered order forked the same way shows
each stop and failed attempt with its branch. A screenshot of the forked lineage goes to
``test-artifacts/`` (the docs show a copy under ``docs/img/``). ORM calls stay outside the ``sync_playwright()`` block.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from checkout import demo
from checkout.order_approved.models import OrderApproved
from pipelines.models import MAIN_BRANCH, CheckpointLog, ErrorSinkEntry, ForkedFrom, OpsAction
from tests.checkout.conftest import place
from tests.checkout.facts import completed_order_rows
from tests.opsconsole.conftest import OPS_PASSWORD, dead_lettered_order, make_ops_user
from tests.opsconsole.test_browser import ARGS, ARTIFACTS, CHROMIUM

REASON = "kitchen split fixed in 4.2: re-run from approval"
RERUN = completed_order_rows(after="consumer-validation")  # the fork from OrderApproved writes them again

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def completed(transactional_db: Any) -> tuple[str, str, int]:
    demo.load()
    make_ops_user()
    order_id = place(key="browser-fork-1").view["orderId"]
    approved = OrderApproved.objects.get(order_id=order_id)
    return order_id, str(approved.pk), CheckpointLog.objects.filter(trace_id=order_id).count()


def fork_link_followed(browser: Any, url: str, order_id: str, checkpoint_id: str) -> Any:
    """A page of ops, logged in, on the fork preview of ``checkpoint_id`` reached from the order's lineage page."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{url}/ops/login/?next=/ops/lineage/{order_id}/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", OPS_PASSWORD)
    page.click("input[type=submit]")
    page.locator(f'#checkpoints tr[data-node-id="{checkpoint_id}"] a.fork-link').click()
    return page


def test_ops_fork_an_order_from_a_checkpoint_and_see_both_branches(
    live_server: Any, completed: tuple[str, str, int]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    order_id, approved_id, logged = completed
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = fork_link_followed(browser, live_server.url, order_id, approved_id)
            preview = page.locator(".ops-preview")
            expect(preview).to_contain_text("ForkedFrom")
            expect(preview).to_contain_text(f"capture reuses the parent branch's key capture:{order_id}")
            page.fill("#id_reason", REASON)
            page.click("#confirm-button")
            expect(page.locator("#order-state")).to_contain_text("COMPLETED")
            superseded = page.locator("#checkpoints tr.superseded")
            expect(superseded).to_have_count(RERUN)
            expect(page.locator("svg.ops-lineage .node-superseded")).to_have_count(RERUN)
            page.screenshot(path=str(ARTIFACTS / "fork-lineage.png"), full_page=True)
        finally:
            browser.close()

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert (forked.parent_branch, str(forked.from_id)) == (MAIN_BRANCH, approved_id)
    assert CheckpointLog.objects.filter(trace_id=order_id).count() == logged + RERUN
    audit = OpsAction.objects.get(action="fork", trace_id=uuid.UUID(order_id))
    assert (audit.actor, audit.reason) == ("ops", REASON)


@pytest.fixture
def dead_lettered(transactional_db: Any) -> tuple[str, str, int]:
    demo.load()
    make_ops_user()
    order_id = str(dead_lettered_order("browser-fork-dead-1"))
    approved = OrderApproved.objects.get(order_id=order_id)
    return order_id, str(approved.pk), ErrorSinkEntry.objects.filter(trace_id=order_id).count()


def test_ops_fork_a_dead_lettered_order_and_see_the_branch_of_each_stop_and_failed_attempt(
    live_server: Any, dead_lettered: tuple[str, str, int]
) -> None:
    """Still no courier: the fork's dispatch parks on the fork's branch. The page shows that stop with the fork's
    branch, the parent's dead letter (closed by the fork) greyed as superseded, and each failed attempt's branch."""
    from playwright.sync_api import expect, sync_playwright

    order_id, approved_id, parent_attempts = dead_lettered
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = fork_link_followed(browser, live_server.url, order_id, approved_id)
            page.fill("#id_reason", REASON)
            page.click("#confirm-button")
            stops = page.locator("#stops li")
            expect(stops).to_have_count(1)
            expect(stops.locator(".branch")).to_contain_text("branch ")
            expect(stops).not_to_contain_text("superseded")
            expect(page.locator("svg.ops-lineage .node-resolved.node-superseded")).to_have_count(1)
            expect(page.locator("#failed-attempts tr.superseded")).to_have_count(parent_attempts)
            shown = page.locator("#failed-attempts tbody tr").count()
            branch_text = stops.locator(".branch").inner_text()
        finally:
            browser.close()

    forked = ForkedFrom.objects.get(trace_id=order_id)
    assert branch_text == f"branch {forked.branch[:11]}…"
    assert shown == ErrorSinkEntry.objects.filter(trace_id=order_id).count() == parent_attempts + 1
