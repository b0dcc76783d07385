"""Every dashboard page under its Content-Security-Policy in Chromium, offline: nothing the
policy blocks, nothing fetched from another host, no console error (issue 17 item 10).

The pages are found by following the dashboard's own links from the bot list, signed in as
the demo owner, so a new page is covered as soon as something links to it; the scripted parts
(the Copy button, the "Try it" chat, the once-only key panel) are exercised on top.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.dashboard.browsing import PageWatch, open_api_settings, watch_offline
from tests.dashboard.conftest import LiveServer

pytestmark = pytest.mark.browser

MAX_PAGES = 60
ID = re.compile(r"(bot|conv|key|kb|usr|msg|org)_[0-9A-Za-z]+")
SKIPPED_PATHS = ("/dashboard/static/",)


def page_shape(url: str) -> str:
    """One visit per kind of page: ids and query values do not make a new page."""
    parts = urlsplit(url)
    query = "&".join(sorted(p.split("=")[0] for p in parts.query.split("&") if p))
    return ID.sub(r"\1_*", parts.path) + ("?" + query if query else "")


def dashboard_links(page: Any) -> list[str]:
    hrefs: list[str] = page.eval_on_selector_all(
        "a[href^='/dashboard']", "links => links.map(a => a.getAttribute('href'))"
    )
    return [h.split("#")[0] for h in hrefs if not h.startswith(SKIPPED_PATHS)]


def assert_page_clean(page: Any, watch: PageWatch, label: str) -> None:
    assert watch.foreign_requests == [], label
    assert watch.csp_violations(page) == [], label
    assert watch.console_errors == [], label


def test_every_dashboard_page_runs_clean_under_its_csp(
    browser: Any, live_server: LiveServer
) -> None:
    email, password = live_server.demo()
    live_server.key("Acme", "CSP check", "read")
    context = browser.new_context(
        base_url=live_server.url, permissions=["clipboard-read", "clipboard-write"]
    )
    watch = watch_offline(context)
    page = context.new_page()
    page.goto("/dashboard/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/bots")

    seen: set[str] = set()
    queue = ["/dashboard/bots"]
    visited = []
    while queue and len(visited) < MAX_PAGES:
        url = queue.pop(0)
        shape = page_shape(url)
        if shape in seen:
            continue
        seen.add(shape)
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        assert response.headers["content-security-policy"].startswith("default-src 'self'"), url
        assert response.headers["x-frame-options"] == "DENY", url
        page.wait_for_load_state("load")
        assert_page_clean(page, watch, url)
        visited.append(shape)
        queue += [link for link in dashboard_links(page) if page_shape(link) not in seen]
    kinds = {shape.split("?")[0] for shape in visited}
    for expected in (
        "/dashboard/bots",
        "/dashboard/bots/bot_*",
        "/dashboard/bots/bot_*/knowledge/kb_*",
        "/dashboard/bots/bot_*/delete",
        "/dashboard/conversations",
        "/dashboard/conversations/conv_*",
        "/dashboard/analytics",
        "/dashboard/logs",
        "/dashboard/audit",
        "/dashboard/settings/api",
        "/dashboard/settings/api/keys/key_*/revoke",
        "/dashboard/settings/api/keys/key_*/rotate",
        "/dashboard/settings/team",
    ):
        assert expected in kinds, f"{expected} not reached; visited {sorted(kinds)}"

    # Error pages are dashboard pages too (their 404 status is the only console line allowed).
    for url, status in (("/dashboard/no-such-page", 404), ("/dashboard/invitations/bogus", 404)):
        response = page.goto(url)
        assert response is not None and response.status == status, url
        assert response.headers["x-frame-options"] == "DENY", url
        assert watch.csp_violations(page) == [], url
        assert watch.foreign_requests == [], url
        assert all("status of 404" in e for e in watch.console_errors), url
        watch.console_errors.clear()

    # The parts that run script: the once-only key panel with its Copy button and the
    # history rewrite, and the bot's "Try it" chat that scrolls to the newest message.
    open_api_settings(page)
    page.click("summary:has-text('Generate New API Key')")
    page.fill("input[name=name]", "Copied under CSP")
    page.click("#generate-form button[type=submit]")
    page.click("#new-key button:has-text('Copy')")
    page.wait_for_selector("#copy-status:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == page.input_value("#new-key-value")
    page.wait_for_function("location.pathname === '/dashboard/settings/api'")
    page.goto("/dashboard/bots")
    page.locator("table a[href^='/dashboard/bots/bot_']").first.click()
    page.fill("#try-form input[name=message]", "How do I reset my password?")
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#transcript[data-scroll-end] .bubble.user")
    assert_page_clean(page, watch, "scripted parts")

    # A control: the listener does see what the policy blocks (an injected inline script).
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = 1'; document.head.appendChild(s); }"
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.injected") is None
    assert any("script-src" in v for v in watch.csp_violations(page))
    context.close()
