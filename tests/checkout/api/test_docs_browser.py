"""Swagger UI and ReDoc work offline: a real browser with every request beyond 127.0.0.1 aborted lists the operations.

Their assets come from drf-spectacular-sidecar through the project's static files, never from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.test import Client

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--no-first-run"]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


def operation_ids() -> list[str]:
    """Every operation of the schema, read outside the browser block (the ORM refuses async contexts)."""
    schema = yaml.safe_load(Client().get("/api/v1/schema").content)
    return sorted(op["operationId"] for item in schema["paths"].values() for op in item.values() if "operationId" in op)


# ReDoc's bundle always tries its vendor's logo in the sidebar footer (hidden when it fails to load); nothing else.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize(
    ("path", "operation_selector", "tried_outside"),
    [
        ("/api/v1/docs", ".opblock", []),
        ("/api/v1/redoc", '[data-section-id^="operation/"]', [REDOC_LOGO]),
    ],
)
def test_the_api_docs_list_every_operation_without_internet(
    live_server: Any, db: None, path: str, operation_selector: str, tried_outside: list[str]
) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    base = live_server.url.replace("//localhost:", "//127.0.0.1:")  # the only host the browser may reach
    expected = operation_ids()
    assert len(expected) > 10
    blocked: list[str] = []

    def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.route("**/*", local_only)
            page.goto(f"{base}{path}")
            operations = page.locator(operation_selector)
            expect(operations).to_have_count(len(expected))
            expect(page.get_by_text("/api/v1/orders/{order_id}/lineage").first).to_be_attached()
        finally:
            browser.close()
    assert sorted(set(blocked)) == tried_outside
