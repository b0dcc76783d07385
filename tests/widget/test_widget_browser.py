"""The widget in Chromium on someone else's site: a host page served from another origin than
Botyard, with hostile CSS, embedding the snippet exactly as the dashboard shows it."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browsing import sign_in, watch_offline
from tests.dashboard.conftest import LiveServer, browser, free_port, live_server

pytestmark = pytest.mark.browser
__all__ = ["browser", "live_server"]  # the dashboard's fixtures: a real server, Chromium

README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
HOSTILE_CSS = "* { font-size: 40px !important } button { display: none !important }"
ANSWER_WAIT_MS = 15_000


class HostSite:
    """A shop's page on its own port: the snippet in a page whose CSS fights every widget."""

    def __init__(self) -> None:
        self.snippet = ""
        self.port = free_port()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                    "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                    f"<title>Shop</title><style>{HOSTILE_CSS}</style></head><body>"
                    "<h1>Acme Shop</h1><p>Welcome to our shop. Questions? Ask our assistant.</p>"
                    f"{site.snippet}</body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)

    @property
    def allowed(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def not_allowed(self) -> str:
        """The same page under another name: another origin, not on the key's list."""
        return f"http://localhost:{self.port}"


@pytest.fixture
def host_site() -> Iterator[HostSite]:
    site = HostSite()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()


def demo_bot(server: LiveServer) -> tuple[str, str, dict[str, Any]]:
    """The demo bot's id, an admin key, and one of its knowledge entries."""
    admin = server.key("Acme", f"Widget test {uuid.uuid4().hex[:8]}", "admin")
    bot = server.api("GET", "/v1/bots", admin).json()["data"][0]
    entries = server.api("GET", f"/v1/bots/{bot['id']}/knowledge?limit=100", admin).json()["data"]
    return bot["id"], admin, entries[0]


def open_widget(page: Any) -> None:
    launcher = page.locator("botyard-widget .launcher")
    launcher.wait_for(state="visible")
    launcher.focus()
    page.keyboard.press("Enter")  # keyboard-usable: the launcher is a real button
    page.locator("botyard-widget .panel").wait_for(state="visible")


def test_the_widget_on_a_hostile_page_answers_and_keeps_the_conversation(
    browser: Any, live_server: LiveServer, host_site: HostSite, tmp_path: Path
) -> None:
    update = os.environ.get("BOTYARD_UPDATE_SCREENSHOTS") == "1"
    screenshots = README_SCREENSHOTS if update else tmp_path
    screenshots.mkdir(parents=True, exist_ok=True)
    email, password = live_server.demo()
    bot_id, admin, entry = demo_bot(live_server)
    created = live_server.api(
        "POST",
        f"/v1/bots/{bot_id}/publishable-keys",
        admin,
        json={"name": "Acme Shop", "allowed_origins": [host_site.allowed]},
    )
    assert created.status_code == 201, created.text
    key = created.json()

    dashboard = sign_in(browser, live_server, email, password)
    dashboard.goto(f"/dashboard/bots/{bot_id}#widget")
    host_site.snippet = dashboard.input_value(f"#snippet-{key['id']}")
    assert host_site.snippet == (
        f'<script src="{live_server.url}/widget.js" data-key="{key["key"]}" async></script>'
    )
    dashboard.context.close()

    context = browser.new_context(viewport=DESKTOP)
    watch = watch_offline(context)
    page = context.new_page()
    page.goto(host_site.allowed)
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).fontSize") == "40px"
    open_widget(page)
    launcher_size = page.locator("botyard-widget .launcher").evaluate(
        "node => getComputedStyle(node).fontSize"
    )
    assert launcher_size == "15px", "the host page's CSS reached inside the widget"
    panel = page.locator("botyard-widget .panel")
    assert panel.get_attribute("role") == "dialog"
    assert page.locator("botyard-widget .launcher").get_attribute("aria-expanded") == "true"
    assert page.locator("botyard-widget #botyard-input").evaluate(
        "node => node === node.getRootNode().activeElement"
    )
    page.keyboard.type(entry["question"])
    page.keyboard.press("Enter")
    answer = page.locator("botyard-widget .msg.bot", has_text=entry["answer"][:60])
    answer.wait_for(timeout=ANSWER_WAIT_MS)
    page.screenshot(path=str(screenshots / "widget-desktop.png"))

    page.reload()
    page.locator("botyard-widget .panel").wait_for(state="visible")
    page.locator("botyard-widget .msg.user", has_text=entry["question"]).wait_for()
    page.locator("botyard-widget .msg.bot", has_text=entry["answer"][:60]).wait_for()
    page.locator("botyard-widget #botyard-input").focus()
    page.keyboard.press("Escape")
    assert page.locator("botyard-widget .panel").is_hidden()
    assert watch.foreign_requests == [] and watch.console_errors == []
    context.close()

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone_page = phone.new_page()
    phone_page.goto(host_site.allowed)
    open_widget(phone_page)
    # The same visitor's browser profile is not shared: a new one sees the welcome message.
    phone_page.locator("botyard-widget .msg.bot").first.wait_for()
    box = phone_page.locator("botyard-widget .panel").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"] and box["x"] >= 0
    phone_page.screenshot(path=str(screenshots / "widget-phone.png"))
    phone.close()
    for name in ("widget-desktop.png", "widget-phone.png"):
        assert (screenshots / name).stat().st_size > 10_000


def test_from_an_origin_that_is_not_allowed_the_widget_shows_its_error(
    browser: Any, live_server: LiveServer, host_site: HostSite
) -> None:
    live_server.demo()
    bot_id, admin, entry = demo_bot(live_server)
    key = live_server.api(
        "POST",
        f"/v1/bots/{bot_id}/publishable-keys",
        admin,
        json={"allowed_origins": [host_site.allowed]},
    ).json()
    host_site.snippet = (
        f'<script src="{live_server.url}/widget.js" data-key="{key["key"]}" async></script>'
    )
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(host_site.not_allowed)
    open_widget(page)
    notice = page.locator("botyard-widget .notice")
    notice.wait_for(state="visible")
    assert "can't be reached" in notice.inner_text() or "isn't available" in notice.inner_text()
    page.locator("botyard-widget #botyard-input").fill(entry["question"])
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)
    assert page.locator("botyard-widget .msg").count() == 0
    assert page.locator("botyard-widget .send").is_disabled()
    context.close()


def test_the_widget_says_when_it_is_rate_limited_or_unreachable(
    browser: Any, live_server: LiveServer, host_site: HostSite
) -> None:
    live_server.demo()
    bot_id, admin, entry = demo_bot(live_server)
    key = live_server.api(
        "POST",
        f"/v1/bots/{bot_id}/publishable-keys",
        admin,
        json={"allowed_origins": [host_site.allowed]},
    ).json()
    host_site.snippet = (
        f'<script src="{live_server.url}/widget.js" data-key="{key["key"]}" async></script>'
    )
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(host_site.allowed)
    open_widget(page)
    page.locator("botyard-widget .msg.bot").first.wait_for()  # the welcome message
    cors = {
        "Access-Control-Allow-Origin": host_site.allowed,
        "Access-Control-Expose-Headers": "Retry-After",
    }
    refusal = (
        '{"error": {"type": "rate_limit_exceeded", "code": "rate_limit_exceeded", "message": "x"}}'
    )
    page.route(
        "**/v1/widget/conversations",
        lambda route: route.fulfill(
            status=429, headers={**cors, "Retry-After": "42"}, content_type="application/json",
            body=refusal,
        ) if route.request.method == "POST" else route.continue_(),
    )  # fmt: skip
    page.locator("botyard-widget #botyard-input").fill(entry["question"])
    page.keyboard.press("Enter")
    notice = page.locator("botyard-widget .notice")
    notice.wait_for(state="visible")
    assert "too quickly" in notice.inner_text() and "42 seconds" in notice.inner_text()

    page.unroute("**/v1/widget/conversations")
    page.route("**/v1/widget/**", lambda route: route.abort("connectionrefused"))
    page.locator("botyard-widget #botyard-input").fill(entry["question"])
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('botyard-widget').shadowRoot"
        ".querySelector('.notice').textContent.includes(\"can't be reached\")"
    )
    assert page.locator("botyard-widget .msg.user").count() == 0
    context.close()
