"""The triage bar's lists at 1280 px in a real browser: every column is in sight, the lineage link included (Django's
navigation sidebar took a third of the width, and the lists scrolled their last columns out of sight)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from checkout import demo
from opsconsole import ops_actions
from tests.opsconsole.conftest import OPS_PASSWORD, dead_lettered_order, make_ops_user
from tests.opsconsole.test_browser import ARGS, CHROMIUM

LISTS = ("/ops/pipelines/errorsinkentry/", "/ops/pipelines/parkeditem/", "/ops/pipelines/opsaction/")
# The result table's full width and the width it is shown in; its last column's first link, and whether it is in
# sight (not scrolled out of the table's box).
MEASURE = """() => {
  const results = document.querySelector('#changelist .results');
  const last = document.querySelector('#result_list tbody tr td:last-child a');
  const inSight = last.getBoundingClientRect().right <= results.getBoundingClientRect().right;
  return {inside: results.scrollWidth, outside: results.clientWidth, link: last.textContent.trim(), inSight};
}"""

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture
def scene(transactional_db: Any) -> uuid.UUID:
    """A dead letter (its entries and its parked item), redriven once in vain (an ops action)."""
    demo.load()
    make_ops_user()
    order = dead_lettered_order("lists-dead-1")
    seq = ops_actions.preview("redrive", order, {})["expectedSeq"]
    ops_actions.execute("redrive", order, actor="ops", reason="worth a try", expected_seq=seq, params={})
    return order


def test_the_triage_lists_show_every_column_at_1280_px(live_server: Any, scene: uuid.UUID) -> None:
    from playwright.sync_api import sync_playwright

    measured = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{live_server.url}/ops/login/?next=/ops/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", OPS_PASSWORD)
            page.click("input[type=submit]")
            for path in LISTS:
                page.goto(f"{live_server.url}{path}")
                measured[path] = page.evaluate(MEASURE)
        finally:
            browser.close()

    for path, shown in measured.items():
        assert shown["link"] == "lineage" and shown["inSight"], (path, shown)
        assert shown["inside"] <= shown["outside"], (path, shown)
