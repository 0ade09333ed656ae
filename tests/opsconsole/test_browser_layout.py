"""The dashboard is readable at 1280 px and 1920 px: no table cell's text wraps narrower than 8 characters, and
no dashboard card hides columns behind a horizontal scroll. Playwright drives Debian's chromium; the 1280 px
dashboard is saved as ``docs/img/ops-dashboard.png`` (shown in docs/operations.md)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from checkout import demo, services
from tests.checkout.conftest import order_body
from tests.opsconsole.conftest import OPS_PASSWORD, dead_lettered_order, make_ops_user
from tests.opsconsole.test_browser import ARGS, CHROMIUM

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
MIN_CHARS = 8

# For every cell of every dashboard table: its text, how many lines it takes, and its content width in widths of
# 'x' in its own font (a canvas measures the 'x'). A cell wrapped onto several lines narrower than 8 'x' is the
# letter-by-letter column; a card wider inside than outside scrolls its columns out of sight.
MEASURE = """() => {
  const canvas = document.createElement('canvas').getContext('2d');
  const cells = [];
  for (const cell of document.querySelectorAll('#content-main .ops-card table td, #content-main .ops-card table th')) {
    const text = cell.innerText.trim();
    if (!text) continue;
    const style = getComputedStyle(cell);
    canvas.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const x = canvas.measureText('x').width;
    const pad = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const vpad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
    const lines = Math.round((cell.clientHeight - vpad) / lineHeight);
    cells.push({text: text.slice(0, 40), lines, chars: (cell.clientWidth - pad) / x,
                card: cell.closest('.ops-card').id});
  }
  const cards = [...document.querySelectorAll('#content-main .ops-card')].map(
    (card) => ({id: card.id, inside: card.scrollWidth, outside: card.clientWidth}));
  return {cells, cards};
}"""


# The dead letter's order link: its text, its title, and whether the stylesheet cuts its display.
SHOWN_ID = """(trace) => {
  const link = document.querySelector(`#dead-letters tr[data-trace="${trace}"] a.lineage-link`);
  return {text: link.textContent, title: link.title, cut: link.scrollWidth > link.clientWidth};
}"""


@pytest.fixture
def scene(transactional_db: Any) -> uuid.UUID:
    demo.load()
    make_ops_user()
    services.place_order(order_body(), "layout-happy-1")
    services.place_order(order_body(consumer="dave"), "layout-review-1")
    return dead_lettered_order("layout-dead-1")


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.mark.parametrize("width", [1280, 1920])
def test_dashboard_cells_never_wrap_narrower_than_8_characters(live_server: Any, scene: uuid.UUID, width: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{live_server.url}/ops/login/?next=/ops/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", OPS_PASSWORD)
            page.click("input[type=submit]")
            expect(page.locator(f'#dead-letters tr[data-trace="{scene}"]')).to_be_visible()
            measured = page.evaluate(MEASURE)
            shown = page.evaluate(SHOWN_ID, str(scene))
            if width == 1280:
                DOCS_IMG.mkdir(exist_ok=True)
                page.screenshot(path=str(DOCS_IMG / "ops-dashboard.png"), full_page=True)
        finally:
            browser.close()

    assert len(measured["cells"]) > 40  # the four tables and the funnel were measured
    narrow = [c for c in measured["cells"] if c["lines"] > 1 and c["chars"] < MIN_CHARS]
    assert narrow == []
    hidden = [c for c in measured["cards"] if c["inside"] > c["outside"] + 1]
    assert hidden == []
    # The dead letter's order: cut to its column on screen, whole in its text (what a copy takes) and its title.
    assert shown == {"text": str(scene), "title": str(scene), "cut": True}
