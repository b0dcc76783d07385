"""Screenshots of the dashboard for the README, taken from the demo data by the suite itself."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browsing import open_api_settings, sign_in, wait_for_logged_requests
from tests.dashboard.conftest import LiveServer

pytestmark = pytest.mark.browser

README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def seed_api_traffic(server: LiveServer) -> None:
    """A few keys in different states, and an afternoon's worth of calls."""
    website = server.key("Acme", "Website Integration", "read")
    backend = server.key("Acme", "Backend", "write")
    retired = server.key("Acme", "Old mobile app", "read")
    server.key("Acme", "Reporting job", "read")
    keys = server.cli("keys", "list", "--org", "Acme", "--json").stdout
    retired_id = next(k["id"] for k in json.loads(keys) if k["name"] == "Old mobile app")
    for _ in range(24):
        server.api("GET", "/v1/bots", website)
    for path in ("/v1/me", "/v1/conversations", "/v1/analytics", "/v1/bots/bot_missing"):
        server.api("GET", path, backend)
    server.cli("keys", "revoke", retired_id)
    server.api("GET", "/v1/bots", retired)


def test_screenshots_of_settings_api_and_analytics(
    browser: Any, live_server: LiveServer, tmp_path: Path
) -> None:
    """Always taken; written over the README's copies only by `make screenshots`, so an
    ordinary test run leaves the work tree clean."""
    update = os.environ.get("BOTYARD_UPDATE_SCREENSHOTS") == "1"
    screenshots = README_SCREENSHOTS if update else tmp_path
    email, password = live_server.demo()
    seed_api_traffic(live_server)
    screenshots.mkdir(parents=True, exist_ok=True)

    page = sign_in(browser, live_server, email, password, viewport=DESKTOP)
    page.click("nav.mainnav >> text=Logs")
    wait_for_logged_requests(page, 28)
    open_api_settings(page)
    page.click("summary:has-text('Generate New API Key')")
    page.screenshot(path=str(screenshots / "settings-api.png"), full_page=True)
    page.click("nav.mainnav >> text=Analytics")
    page.wait_for_selector("svg.chart")
    page.screenshot(path=str(screenshots / "analytics.png"), full_page=True)
    page.context.close()

    phone = sign_in(browser, live_server, email, password, viewport=PHONE, is_mobile=True)
    open_api_settings(phone)
    phone.screenshot(path=str(screenshots / "settings-api-phone.png"), full_page=True)
    phone.context.close()

    for name in ("settings-api.png", "analytics.png", "settings-api-phone.png"):
        assert (screenshots / name).stat().st_size > 10_000
