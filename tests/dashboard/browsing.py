"""Steps the browser tests share: signing in, opening pages, waiting for the request log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


@dataclass
class PageWatch:
    """What a browser context tried that a self-hosted, CSP-clean page must never do."""

    foreign_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def csp_violations(self, page: Any) -> list[str]:
        reported: list[str] = page.evaluate("window.__cspViolations || []")
        logged = [e for e in self.console_errors if "Content Security Policy" in e]
        return reported + logged


def watch_offline(context: Any) -> PageWatch:
    """Aborts, and records, every request to a host other than this machine (the browser is
    offline, as a self-hosted install may be), and records console errors and CSP violations
    of every page the context opens from now on."""
    watch = PageWatch()

    def route(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            watch.foreign_requests.append(url)
            route.abort("internetdisconnected")

    def on_page(page: Any) -> None:
        page.on(
            "console",
            lambda message: (
                watch.console_errors.append(message.text) if message.type == "error" else None
            ),
        )

    context.route("**/*", route)
    context.add_init_script(CSP_LISTENER)
    context.on("page", on_page)
    for page in context.pages:
        on_page(page)
    return watch
