"""Issue 16 item 6: at 1024, 1280 and 1440 px the API keys table fits its card, and every
action button of every row (Rotate, Revoke, and any added later) is fully visible: inside the
card, inside the viewport, not scrolled away in the table, and not covered by anything."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dashboard.browsing import open_api_settings, sign_in
from tests.dashboard.conftest import LiveServer

pytestmark = pytest.mark.browser

WIDTHS = (1024, 1280, 1440)
HEIGHT = 900
# A 100-character name with no space to break at, the longest the API accepts.
UNBREAKABLE_NAME = "Production_EU_West_Checkout_Service_Integration_For_The_Mobile_Storefront_And_Partner_Portal_2026xyz"


def seed_awkward_keys(server: LiveServer, org: str) -> None:
    """The widest rows a real table shows: every scope, several warnings, a rotation pair."""
    exposed = server.key(org, UNBREAKABLE_NAME, "read", "write", "admin")
    server.api("GET", "/v1/me", exposed)
    server.api("GET", f"/v1/me?api_key={exposed}", exposed)  # flagged: sent in a URL
    short_lived = server.cli(
        "keys",
        "create",
        "--org",
        org,
        "--name",
        "Nightly export to the data warehouse",
        "--scope",
        "read",
        "--scope",
        "write",
        "--expires-in",
        "3d",
    ).stdout.strip()
    server.api("GET", "/v1/bots", short_lived)
    server.key(org, "Backend", "write")
    listed = json.loads(server.cli("keys", "list", "--org", org, "--json").stdout)
    backend = next(k["id"] for k in listed if k["name"] == "Backend")
    server.cli("keys", "rotate", backend, "--grace", "2d")


def test_every_key_action_button_is_fully_visible_at_desktop_widths(
    browser: Any, live_server: LiveServer
) -> None:
    org = live_server.org()
    owner = live_server.user(org, "owner")
    seed_awkward_keys(live_server, org)
    page = sign_in(browser, live_server, owner, viewport={"width": WIDTHS[0], "height": HEIGHT})
    open_api_settings(page)
    assert page.locator("table.keys .badge.warn").count() >= 3  # the warnings are drawn

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.reload()
        card = page.locator("section.card", has=page.locator("table.keys"))
        wrap = card.locator(".table-wrap")
        overflow = wrap.evaluate("el => el.scrollWidth - el.clientWidth")
        assert overflow <= 0, f"{width}px: the table is {overflow}px wider than its card"
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        buttons = card.locator("table.keys td .actions :is(a, button)")
        labels = [b.inner_text().strip() for b in buttons.all()]
        assert labels.count("Revoke") == 4 and labels.count("Rotate") == 3, labels
        for index, button in enumerate(buttons.all()):
            label = f"{width}px, {labels[index]} #{index}"
            button.scroll_into_view_if_needed()
            box, frame = button.bounding_box(), card.bounding_box()
            assert box is not None and frame is not None, label
            assert box["width"] > 0 and box["height"] > 0, label
            assert frame["x"] <= box["x"], label
            assert box["x"] + box["width"] <= frame["x"] + frame["width"], label
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, label
            assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, label
            inside_wrap = wrap.evaluate(
                """(el, b) => { const r = el.getBoundingClientRect();
                    return b.x >= r.left && b.x + b.width <= r.right; }""",
                box,
            )
            assert inside_wrap, f"{label}: scrolled out of the table's visible part"
            on_top = button.evaluate(
                """el => { const r = el.getBoundingClientRect();
                    const corners = [[r.left + 2, r.top + 2], [r.right - 2, r.bottom - 2],
                                     [r.left + r.width / 2, r.top + r.height / 2]];
                    return corners.every(([x, y]) => el.contains(document.elementFromPoint(x, y))); }"""
            )
            assert on_top, f"{label}: covered by another element"
    page.context.close()
