"""Dashboard sign-in: sessions, cookies, CSRF and the sign-in attempt limit."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from botyard.core import clock
from botyard.dashboard.sessions import LOGIN_ATTEMPTS, SESSION_COOKIE
from botyard.log_redaction import RedactSecrets, redact
from botyard.users.models import UserSession
from tests.dashboard.helpers import PASSWORD, csrf_of, keys_of, login, set_cookie_headers
from tests.factories import make_org, make_user


async def test_site_root_and_dashboard_lead_to_login(client: httpx.AsyncClient) -> None:
    root = await client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/dashboard"
    page = await client.get("/dashboard/settings/api")
    assert page.status_code == 303
    assert page.headers["location"] == "/dashboard/login?next=/dashboard/settings/api"


async def test_login_opens_a_session_and_returns_to_the_page_asked_for(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    user = await make_user(app, org, "owner")
    form = await client.get("/dashboard/login?next=/dashboard/settings/api")
    response = await client.post(
        "/dashboard/login",
        data={
            "email": user.email.upper(),
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "/dashboard/settings/api",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/settings/api"
    page = await client.get("/dashboard/settings/api")
    assert page.status_code == 200
    assert user.email in page.text
    assert org.name in page.text


async def test_login_never_redirects_off_the_dashboard(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_user(app, await make_org(app))
    form = await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": csrf_of(form.text),
            "next": "https://evil.example/phish",
        },
    )
    assert response.headers["location"] == "/dashboard/bots"


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_user(app, await make_org(app))
    form = await client.get("/dashboard/login")
    token = csrf_of(form.text)
    wrong = await client.post(
        "/dashboard/login",
        data={"email": user.email, "password": "not the password", "csrf_token": token},
    )
    unknown = await client.post(
        "/dashboard/login",
        data={"email": "nobody@example.com", "password": "whatever123", "csrf_token": token},
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "That email and password do not match an account." in response.text
        assert not set_cookie_headers(response, SESSION_COOKIE)


async def test_session_cookie_is_httponly_samesite_and_only_its_hash_is_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await make_user(app, await make_org(app))
    form = await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    [header] = set_cookie_headers(response, SESSION_COOKIE)
    flags = header.lower()
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/dashboard" in flags
    assert "secure" not in flags  # plain HTTP here: a Secure cookie would never come back
    token = header.split(";")[0].split("=", 1)[1]
    async with app.state.sessionmaker() as session:
        stored = (
            await session.scalars(select(UserSession).where(UserSession.user_id == user.id))
        ).all()
    assert [s.token_hash for s in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in (s.token_hash, s.csrf_token) for s in stored)


async def test_session_cookie_is_secure_over_https(app: FastAPI) -> None:
    user = await make_user(app, await make_org(app))
    transport = httpx.ASGITransport(app=app, client=("198.18.250.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        form = await https.get("/dashboard/login")
        assert "secure" in set_cookie_headers(form, "botyard_login_csrf")[0].lower()
        response = await https.post(
            "/dashboard/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
    [header] = set_cookie_headers(response, SESSION_COOKIE)
    assert "; secure" in header.lower()
    assert "httponly" in header.lower()


async def test_secure_cookies_setting_forces_the_flag(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "secure_cookies", True)
    form = await client.get("/dashboard/login")
    [header] = set_cookie_headers(form, "botyard_login_csrf")
    assert "; secure" in header.lower()


async def test_logout_ends_the_session_for_good(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_user(app, await make_org(app))
    csrf = await login(client, user)
    cookie = client.cookies.get(SESSION_COOKIE)
    response = await client.post("/dashboard/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    assert (await client.get("/dashboard/bots")).status_code == 303
    # The old cookie replayed after logout opens nothing.
    client.cookies.set(SESSION_COOKIE, cookie or "", domain="testserver", path="/dashboard")
    replay = await client.get("/dashboard/bots")
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/dashboard/login")


async def test_session_expires_after_the_configured_hours(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: clock.FrozenClock
) -> None:
    user = await make_user(app, await make_org(app))
    await login(client, user)
    ttl = app.state.settings.session_ttl_hours
    for _ in range(ttl):  # in use every hour, so the idle timeout never ends it
        frozen_clock.advance(timedelta(hours=1) - timedelta(seconds=5))
        assert (await client.get("/dashboard/bots")).status_code == 200
    frozen_clock.advance(timedelta(minutes=2))
    assert (await client.get("/dashboard/bots")).status_code == 303


async def test_post_without_or_with_a_wrong_csrf_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    user = await make_user(app, org, "owner")
    csrf = await login(client, user)
    form = {"name": "Website Integration", "scopes": "read", "expires": "never"}
    missing = await client.post("/dashboard/settings/api/keys", data=form)
    wrong = await client.post("/dashboard/settings/api/keys", data={**form, "csrf_token": "x" * 64})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "security token" in response.text
    assert await keys_of(app, org) == []
    # The same form with the session's token goes through.
    ok = await client.post("/dashboard/settings/api/keys", data={**form, "csrf_token": csrf})
    assert ok.status_code == 200
    assert len(await keys_of(app, org)) == 1


async def test_another_sessions_csrf_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    first, second = await make_user(app, org, "owner"), await make_user(app, org, "owner")
    transport = httpx.ASGITransport(app=app, client=("198.18.251.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        foreign_token = await login(other, second)
    await login(client, first)
    response = await client.post("/dashboard/logout", data={"csrf_token": foreign_token})
    assert response.status_code == 403
    assert (await client.get("/dashboard/bots")).status_code == 200


async def test_login_form_needs_its_csrf_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_user(app, await make_org(app))
    await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login", data={"email": user.email, "password": PASSWORD, "csrf_token": "nope"}
    )
    assert response.status_code == 403
    assert not set_cookie_headers(response, SESSION_COOKIE)


async def test_a_post_without_a_session_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/dashboard/settings/api/keys", data={"name": "x"})
    assert response.status_code == 403
    assert "not signed in" in response.text


async def test_login_attempts_are_limited_per_account_and_address(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The address that failed waits; the limits themselves are in tests/security."""
    user = await make_user(app, await make_org(app))
    token = csrf_of((await client.get("/dashboard/login")).text)
    for _ in range(LOGIN_ATTEMPTS):
        failed = await client.post(
            "/dashboard/login",
            data={"email": user.email, "password": "guess-guess", "csrf_token": token},
        )
        assert failed.status_code == 401
    blocked = await client.post(
        "/dashboard/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.text
    assert "Try again in 1 minute" in blocked.text
    assert 0 < int(blocked.headers["retry-after"]) <= 60
    assert not set_cookie_headers(blocked, SESSION_COOKIE)


async def test_a_user_in_two_organizations_can_switch(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first, second = await make_org(app), await make_org(app, plan="starter")
    user = await make_user(app, first, "owner")
    from botyard.users import service as users
    from botyard.users.models import Role

    async with app.state.sessionmaker() as session:
        await users.add_member(session, second, await session.merge(user), Role.MEMBER)
        await session.commit()
    csrf = await login(client, user)
    page = await client.get("/dashboard/settings/api")
    assert first.name in page.text and "Professional plan" in page.text
    switched = await client.post(
        "/dashboard/switch-organization", data={"csrf_token": csrf, "organization_id": second.id}
    )
    assert switched.status_code == 303
    page = await client.get("/dashboard/settings/api")
    assert "Starter plan" in page.text
    assert "Only Admins and Owners manage API keys." in page.text
    stranger = await make_org(app)
    refused = await client.post(
        "/dashboard/switch-organization", data={"csrf_token": csrf, "organization_id": stranger.id}
    )
    assert refused.status_code == 403


async def test_pages_carry_safe_headers(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await make_user(app, await make_org(app))
    await login(client, user)
    page = await client.get("/dashboard/settings/api")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    css = await client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/dashboard/static/../main.py")).status_code == 404


def test_invitation_tokens_are_redacted_from_access_logs() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/dashboard/invitations/s3cr3t-t0ken?x=1", "1.1", 200),
        None,
    )
    RedactSecrets().filter(record)
    assert "s3cr3t-t0ken" not in record.getMessage()
    assert "/dashboard/invitations/[redacted]?x=1" in record.getMessage()


def test_keys_in_urls_are_redacted_from_access_logs() -> None:
    key = "byk_" + "A" * 38
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v1/bots/{key}?token=abc&api_key={key}&limit=5", "1.1", 401),
        None,
    )
    RedactSecrets().filter(record)
    message = record.getMessage()
    assert key not in message and "abc" not in message
    assert "token=[redacted]&api_key=[redacted]&limit=5" in message


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("/v1/bots/byk_" + "B" * 38, "/v1/bots/[redacted]"),
        ("/v1/bots?TOKEN=abc", "/v1/bots?TOKEN=[redacted]"),
        ("/dashboard/invitations/abc", "/dashboard/invitations/[redacted]"),
        ("/v1/me", "/v1/me"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
    ],
)
def test_each_secret_is_redacted_on_its_own_and_plain_text_is_kept(
    text: str, redacted: str
) -> None:
    assert redact(text) == redacted


async def test_unknown_dashboard_page_is_an_html_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "no dashboard page" in response.text


def test_records_of_every_botyard_logger_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """Redaction is not a filter on the ``botyard`` logger alone, which Python would not apply
    to records its children (``botyard.middleware``, ``botyard.errors``…) propagate."""
    from botyard.log_redaction import install

    install()
    install()
    key = "byk_" + "A1b2C3d4" * 4 + "e5F6g7"
    for name in ("botyard.middleware", "botyard.errors", "botyard.some.future.module", "httpx"):
        logging.getLogger(name).warning("GET /v1/bots?x=%s", key)
        logging.getLogger(name).warning(f"plain {key}")
    assert key not in caplog.text
    assert caplog.text.count("[redacted]") == 8
