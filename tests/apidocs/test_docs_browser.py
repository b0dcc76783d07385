"""/docs and /redoc in Debian's Chromium, offline: issue 16 item 5 and issue 17 item 10.

Every request to a host other than this machine is aborted and recorded; each test asserts
that none was even attempted, that the page rendered the API's operations, and that its
Content-Security-Policy blocked nothing (a page that works only because it fell back to
something the policy forbids would fail here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.dashboard.browsing import watch_offline
from tests.dashboard.conftest import LiveServer

pytestmark = pytest.mark.browser

RENDER_MS = 30_000
# ReDoc draws its "API docs by Redocly" footer with a logo from its makers' CDN, with no option
# to turn it off. The page's img-src keeps it from ever being requested (ReDoc then hides the
# image): that refusal is the one violation /redoc is allowed, and the test proves it is the
# policy, not luck, that stops the request.
REDOC_LOGO = "img-src blocked https://cdn.redoc.ly/redoc/logo-mini.svg"


def open_offline(browser: Any, server: LiveServer, path: str) -> tuple[Any, Any]:
    context = browser.new_context(base_url=server.url)
    watch = watch_offline(context)
    page = context.new_page()
    response = page.goto(path)
    assert response is not None and response.status == 200
    return page, watch


def assert_clean(page: Any, watch: Any, *, expected_refusals: tuple[str, ...] = ()) -> None:
    assert watch.foreign_requests == [], "the page tried to reach another host"
    reported: list[str] = page.evaluate("window.__cspViolations")
    assert sorted({v.split(" at ")[0] for v in reported}) == sorted(expected_refusals)
    unexpected = [
        e
        for e in watch.console_errors
        if not any(r.split(" blocked ")[1] in e for r in expected_refusals)
    ]
    assert unexpected == []


def test_swagger_ui_renders_offline_and_try_it_out_works_with_a_pasted_key(
    browser: Any, live_server: LiveServer
) -> None:
    org = live_server.org()
    key = live_server.key(org, "Docs Tryout", "write")
    page, watch = open_offline(browser, live_server, "/docs")

    page.wait_for_selector(".opblock-summary-path[data-path='/v1/me']", timeout=RENDER_MS)
    operations = page.locator(".opblock").count()
    assert operations >= 30  # every /v1 operation, not an empty shell
    assert page.locator(".opblock-summary-path[data-path='/v1/bots/{bot_id}']").count() >= 1

    page.click("button.authorize")
    page.fill(".auth-container input", key)
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")

    me = page.locator(".opblock-get", has=page.locator(".opblock-summary-path[data-path='/v1/me']"))
    me.locator(".opblock-summary").click()
    me.locator("button.try-out__btn").click()
    me.locator("button.execute").click()
    status = me.locator(".live-responses-table .response .response-col_status").first
    status.wait_for(timeout=RENDER_MS)
    assert status.inner_text().strip() == "200"
    body = me.locator(".live-responses-table .response-col_description pre").first.inner_text()
    assert "Docs Tryout" in body and org in body

    # A write from the docs page (the browser sends this server's own Origin): it is served,
    # and the key is not taken for one leaked into someone else's web page.
    create = page.locator(
        ".opblock-post", has=page.locator(".opblock-summary-path[data-path='/v1/bots']")
    )
    create.locator(".opblock-summary").click()
    create.locator("button.try-out__btn").click()
    create.locator("textarea.body-param__text").fill('{"name": "Made in the docs"}')
    create.locator("button.execute").click()
    created = create.locator(".live-responses-table .response .response-col_status").first
    created.wait_for(timeout=RENDER_MS)
    assert created.inner_text().strip() == "201"
    bots = live_server.api("GET", "/v1/bots", key).json()["data"]
    assert [b["name"] for b in bots] == ["Made in the docs"]
    admin = live_server.key(org, "Docs check", "admin")
    (tried,) = [
        k
        for k in live_server.api("GET", "/v1/api-keys", admin).json()["data"]
        if k["name"] == "Docs Tryout"
    ]
    assert tried["warnings"] == [], tried["warnings"]

    # The pasted key lives only in the tab: nothing in any storage, gone after a reload.
    assert page.locator(".auth-wrapper button.authorize.locked").count() == 1
    stored = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
        " + document.cookie"
    )
    assert key not in stored and key[:12] not in stored
    page.reload()
    page.wait_for_selector(".auth-wrapper button.authorize.unlocked", timeout=RENDER_MS)
    assert page.locator(".auth-wrapper button.authorize.locked").count() == 0
    assert_clean(page, watch)


def test_redoc_renders_offline(browser: Any, live_server: LiveServer) -> None:
    page, watch = open_offline(browser, live_server, "/redoc")
    page.wait_for_selector("text=Botyard API", timeout=RENDER_MS)
    page.wait_for_selector("[data-section-id^='tag/']", timeout=RENDER_MS)
    page.wait_for_selector("text='/v1/me'", timeout=RENDER_MS)
    search = page.locator("input[placeholder='Search...']")
    search.fill("rotate")
    page.wait_for_selector("[role=search] li, [data-role='search:results'] li", timeout=RENDER_MS)
    assert_clean(page, watch, expected_refusals=(REDOC_LOGO,))


def test_the_errors_reference_is_styled_under_its_policy(
    browser: Any, live_server: LiveServer
) -> None:
    """Its one inline <style> is allowed by hash: applied, and nothing else inline runs."""
    page, watch = open_offline(browser, live_server, "/docs/errors#api_key_expired")
    assert page.locator("tr#api_key_expired").count() == 1
    assert page.evaluate("getComputedStyle(document.body).maxWidth") == "1120px"
    target = page.evaluate("getComputedStyle(document.querySelector('tr:target')).backgroundColor")
    assert target == "rgb(255, 247, 214)"
    assert_clean(page, watch)


@contextmanager
def hostile_site(body: str) -> Iterator[str]:
    """A page on another origin of this machine (a real server: Chromium judges a frame's
    ancestors by where they came from, and refuses frames from a made-up public page to a
    local server before the headers under test have any say)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def framed_url(page: Any, index: int) -> str:
    """Where the hostile page's frame ``index`` ended up, once it has gone anywhere."""
    handle = page.wait_for_selector(f"iframe[name=f{index}]", state="attached")
    frame = handle.content_frame()
    assert frame is not None
    deadline = time.monotonic() + RENDER_MS / 1000
    while frame.url in ("", "about:blank") and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    frame.wait_for_load_state()
    return str(frame.url)


def test_a_page_on_another_site_cannot_frame_the_docs_or_the_dashboard(
    browser: Any, live_server: LiveServer
) -> None:
    """Clickjacking: a hostile page puts /docs and the login form in invisible frames."""
    targets = ["/docs", "/redoc", "/docs/errors", "/dashboard/login"]
    frames = "".join(
        f'<iframe name="f{i}" src="{live_server.url}{path}"></iframe>'
        for i, path in enumerate([*targets, "/healthz"])
    )
    with hostile_site(f"<body>{frames}") as hostile:
        context = browser.new_context()
        page = context.new_page()
        page.goto(hostile)
        # The control, JSON without frame headers, does load: framing itself works here.
        assert framed_url(page, len(targets)) == live_server.url + "/healthz"
        for i, path in enumerate(targets):
            url = framed_url(page, i)
            assert url.startswith("chrome-error://"), f"{path} rendered inside a frame: {url}"
        context.close()
