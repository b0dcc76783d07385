"""The dashboard in headless Chromium against a live server: issue 5's "Done when" list."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.dashboard.browsing import open_api_settings, sign_in, wait_for_logged_requests
from tests.dashboard.conftest import LiveServer

pytestmark = pytest.mark.browser

KEY_PATTERN = re.compile(r"byk_[0-9A-Za-z]{38}")


def key_row(page: Any, name: str) -> Any:
    return page.locator("table.keys tbody tr", has_text=name)


def test_owner_generates_copies_uses_revokes_and_rotates_keys(
    browser: Any, live_server: LiveServer
) -> None:
    org = live_server.org()
    owner = live_server.user(org, "owner")
    old_backend_key = live_server.key(org, "Backend", "write")
    page = sign_in(browser, live_server, owner, permissions=["clipboard-read", "clipboard-write"])
    cookies = {c["name"]: c for c in page.context.cookies()}
    session_cookie = cookies["botyard_session"]
    assert session_cookie["httpOnly"] is True
    assert session_cookie["sameSite"] == "Lax"

    open_api_settings(page)
    assert page.locator("#generate-form").is_hidden()  # behind "Generate New API Key"
    page.click("summary:has-text('Generate New API Key')")
    assert page.get_attribute("input[name=name]", "placeholder") == "Website Integration"
    page.fill("input[name=name]", "Website Integration")
    page.check("input[name=scopes][value=read]")
    page.uncheck("input[name=scopes][value=write]")
    page.uncheck("input[name=scopes][value=admin]")
    page.click("#generate-form button[type=submit]")

    panel = page.locator("#new-key")
    assert "it will not be shown again" in panel.inner_text()
    shown = page.input_value("#new-key-value")
    assert KEY_PATTERN.fullmatch(shown)
    page.click("#new-key button:has-text('Copy')")
    page.wait_for_selector("#copy-status:has-text('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown

    bots = live_server.api("GET", "/v1/bots", copied)
    assert bots.status_code == 200, bots.text

    page.reload()
    content = page.content()
    assert shown not in content
    assert not KEY_PATTERN.search(content)
    assert key_row(page, "Website Integration").count() == 1  # the reload did not resubmit
    row_text = key_row(page, "Website Integration").inner_text()
    assert f"{shown[:8]}…{shown[-4:]}" in row_text
    assert "active" in row_text

    key_row(page, "Website Integration").locator("a:has-text('Revoke')").click()
    page.click("#confirm-revoke")
    page.wait_for_selector(".alert.ok:has-text('Revoked')")
    refused = live_server.api("GET", "/v1/bots", copied)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"
    assert "revoked" in key_row(page, "Website Integration").inner_text()

    key_row(page, "Backend").locator("a:has-text('Rotate')").click()
    assert page.is_checked("input[name=grace][value='24h']")
    page.click("#confirm-rotate")
    new_backend_key = page.input_value("#new-key-value")
    assert KEY_PATTERN.fullmatch(new_backend_key) and new_backend_key != old_backend_key
    assert "keeps working until" in page.inner_text("#new-key")
    assert live_server.api("GET", "/v1/bots", new_backend_key).status_code == 200
    assert live_server.api("GET", "/v1/bots", old_backend_key).status_code == 200
    page.goto("/dashboard/settings/api")
    assert new_backend_key not in page.content()
    page.context.close()


def post_form(page: Any, path: str, fields: dict[str, str]) -> Any:
    """A direct form post with the page's own session and CSRF token, as a crafted request."""
    token = page.input_value("input[name=csrf_token] >> nth=0")
    return page.request.post(path, form={"csrf_token": token, **fields}, max_redirects=0)


def test_member_and_starter_pages_explain_and_refuse_posts(
    browser: Any, live_server: LiveServer
) -> None:
    org = live_server.org()
    member = live_server.user(org, "member")
    page = sign_in(browser, live_server, member)
    open_api_settings(page)
    assert page.locator("#generate-form").count() == 0
    assert page.locator("summary:has-text('Generate New API Key')").count() == 0
    assert "Only Admins and Owners manage API keys." in page.inner_text("#managers-only")
    refused = post_form(page, "/dashboard/settings/api/keys", {"name": "Sneaky", "scopes": "admin"})
    assert refused.status == 403
    page.context.close()

    starter = live_server.org(plan="starter")
    starter_owner = live_server.user(starter, "owner")
    page = sign_in(browser, live_server, starter_owner)
    open_api_settings(page)
    assert page.locator("#generate-form").count() == 0
    assert "Professional plan" in page.inner_text("#plan-needed")
    refused = post_form(page, "/dashboard/settings/api/keys", {"name": "Anyway", "scopes": "read"})
    assert refused.status == 403
    assert "Professional plan" in refused.text()
    listed = live_server.cli("keys", "list", "--org", starter, "--json").stdout
    assert listed.strip() in ("[]", "")
    page.context.close()


def test_team_invite_and_accept(browser: Any, live_server: LiveServer) -> None:
    org = live_server.org()
    owner = live_server.user(org, "owner")
    page = sign_in(browser, live_server, owner)
    page.click("nav.mainnav >> text=Team")
    invitee_email = f"invitee-{org.split()[-1]}@example.com"
    page.fill("#invite-form input[name=email]", invitee_email)
    page.select_option("#invite-form select[name=role]", "admin")
    page.click("#invite-form button[type=submit]")
    link = page.input_value("#invite-link")
    assert link.startswith(f"{live_server.url}/dashboard/invitations/")

    guest = browser.new_context()
    invite_page = guest.new_page()
    invite_page.goto(link)
    assert invite_page.inner_text("#invite-org") == org
    assert invite_page.inner_text("#invite-role") == "Admin"
    invite_page.fill("#accept-form input[name=name]", "Ivy Invitee")
    invite_page.fill("#accept-form input[name=password]", "a long new password")
    invite_page.fill("#accept-form input[name=password_confirm]", "a long new password")
    invite_page.click("#accept-form button[type=submit]")
    invite_page.wait_for_selector("#invite-notice")
    invite_page.fill("#signin-form input[name=password]", "a long new password")
    invite_page.click("#signin-form button[type=submit]")
    invite_page.wait_for_url("**/dashboard/bots")
    assert invitee_email in invite_page.inner_text("header")
    assert "Admin" in invite_page.inner_text("header")
    guest.close()

    page.goto("/dashboard/settings/team")
    assert "Ivy Invitee" in page.inner_text("table.members")
    page.context.close()


def test_password_reset_from_settings_team(browser: Any, live_server: LiveServer) -> None:
    """An owner makes a one-time link; the member sets a new password and is signed out."""
    org = live_server.org()
    owner = sign_in(browser, live_server, live_server.user(org, "owner"))
    member_email = live_server.user(org, "member")
    members_page = sign_in(browser, live_server, member_email)

    owner.click("nav.mainnav >> text=Team")
    row = owner.locator("table.members tr", has_text=member_email)
    row.locator("button:has-text('Reset password')").click()
    link = owner.input_value("#reset-link")
    assert link.startswith(f"{live_server.url}/dashboard/reset-password/")
    owner.context.close()

    guest = browser.new_context()
    reset_page = guest.new_page()
    reset_page.goto(link)
    assert reset_page.inner_text("#reset-email") == member_email
    reset_page.fill("#reset-form input[name=password]", "a brand new passphrase")
    reset_page.fill("#reset-form input[name=password_confirm]", "a brand new passphrase")
    reset_page.click("#reset-form button[type=submit]")
    reset_page.wait_for_selector("#reset-done")
    guest.close()

    members_page.reload()  # the session opened before the reset has ended
    assert "/dashboard/login" in members_page.url
    members_page.context.close()
    sign_in(browser, live_server, member_email, "a brand new passphrase").context.close()


def test_bot_editing_with_a_test_conversation(browser: Any, live_server: LiveServer) -> None:
    org = live_server.org()
    page = sign_in(browser, live_server, live_server.user(org, "member"))
    page.fill("#new-bot-form input[name=name]", "Shop helper")
    page.click("#new-bot-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Shop helper')")

    page.fill("#settings-form textarea[name=welcome_message]", "Welcome to the shop!")
    page.fill("#settings-form textarea[name=fallback_message]", "Let me ask a colleague.")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector(".alert.ok:has-text('Settings saved')")

    page.fill("#knowledge-form input[name=question]", "Do you ship to Canada?")
    page.fill("#knowledge-form textarea[name=answer]", "Yes, within 10 days.")
    page.fill("#knowledge-form input[name=tags]", "shipping")
    page.click("#knowledge-form button[type=submit]")
    page.wait_for_selector("table.knowledge >> text=Yes, within 10 days.")

    page.fill("#try-form input[name=message]", "Do you ship to Canada?")
    page.click("#try-form button[type=submit]")
    bubbles = page.locator("#transcript .bubble")
    assert "Welcome to the shop!" in bubbles.nth(0).inner_text()
    assert "Do you ship to Canada?" in bubbles.nth(1).inner_text()
    reply = bubbles.nth(2).inner_text()
    assert "Yes, within 10 days." in reply and "knowledge" in reply
    assert float(bubbles.nth(2).locator(".score").inner_text()) >= 0.5

    page.fill("#try-form input[name=message]", "what is the meaning of life")
    page.click("#try-form button[type=submit]")
    assert "Let me ask a colleague." in bubbles.nth(4).inner_text()
    assert "fallback" in bubbles.nth(4).inner_text()

    page.click("table.knowledge a:has-text('Edit')")
    page.fill("textarea[name=answer]", "Yes, within 7 days.")
    page.click("#knowledge-edit-form button[type=submit]")
    page.fill("#try-form input[name=message]", "do you ship to canada?")
    page.click("#try-form button[type=submit]")
    assert "Yes, within 7 days." in page.locator("#transcript .bubble").last.inner_text()
    page.context.close()


def test_analytics_and_logs_render_charts_from_seeded_data(
    browser: Any, live_server: LiveServer
) -> None:
    email, password = live_server.demo()
    key = live_server.key("Acme", f"Charts {email[:3]}", "read")
    for path in ("/v1/bots", "/v1/me", "/v1/bots/bot_doesnotexist"):
        live_server.api("GET", path, key)
    page = sign_in(browser, live_server, email, password)

    page.click("nav.mainnav >> text=Analytics")
    page.wait_for_url("**/dashboard/analytics")
    assert int(page.inner_text("#total-conversations")) > 0
    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.bar-chart rect").count() > 0
    assert page.locator("svg.line-chart circle").count() > 0

    page.click("nav.mainnav >> text=Logs")
    wait_for_logged_requests(page, 3)
    assert page.locator("svg.chart").count() == 2
    assert page.locator("svg.bar-chart rect").count() >= 2
    assert page.locator("table.logs tbody tr").count() >= 3
    page.context.close()
