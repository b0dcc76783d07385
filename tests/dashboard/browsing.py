"""Steps the browser tests share: signing in, opening pages, waiting for the request log."""

from __future__ import annotations

from typing import Any

from tests.dashboard.conftest import PASSWORD, LiveServer

LOG_WAIT_MS = 10_000


def sign_in(
    browser: Any, server: LiveServer, email: str, password: str = PASSWORD, **ctx: Any
) -> Any:
    context = browser.new_context(base_url=server.url, **ctx)
    page = context.new_page()
    page.goto("/dashboard/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/bots")
    return page


def open_api_settings(page: Any) -> None:
    page.click("nav.mainnav >> text=API")
    page.wait_for_url("**/dashboard/settings/api")


def wait_for_logged_requests(page: Any, at_least: int) -> None:
    """The server writes its request log in batches; reload until the batch has landed."""
    page.wait_for_function(
        """async (wanted) => {
            const html = await (await fetch('/dashboard/logs')).text();
            const match = html.match(/id="usage-total">(\\d+)</);
            return match && Number(match[1]) >= wanted;
        }""",
        arg=at_least,
        timeout=LOG_WAIT_MS,
    )
    page.reload()
