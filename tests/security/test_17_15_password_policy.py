"""Issue 17.15: a password policy beyond length, and an idle timeout besides the absolute one.

Before the fix ``1111111111`` was accepted (length was the only rule), and a dashboard session
stayed valid for its whole 12 hours however long it sat unused.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.core.clock import FrozenClock
from botyard.core.errors import APIError
from botyard.users import service as users
from botyard.users.models import UserSession
from tests.dashboard.helpers import csrf_of, login
from tests.dashboard.test_team import fresh_client, invite
from tests.factories import make_org, make_user, unique
from tests.security.support import app_with, client_from

REFUSED = {
    "1111111111": "too easy to guess",
    "password123": "commonly used",
    "QWERTYUIOP": "commonly used",
    "1q2w3e4r5t6y": "commonly used",
    "abcdefghijkl": "too easy to guess",
    "short": "at least 10 characters",
    "x" * 257: "at most 256 characters",
}


@pytest.mark.parametrize(("password", "reason"), REFUSED.items(), ids=lambda v: str(v)[:12])
def test_common_and_guessable_passwords_are_refused(password: str, reason: str) -> None:
    with pytest.raises(APIError) as refused:
        users.check_password(password, email="someone@example.com")
    assert refused.value.code == "weak_password"
    assert refused.value.param == "password"
    assert reason in refused.value.message


def test_a_password_containing_the_email_is_refused() -> None:
    for password in (
        "margaret.h-2026-secure",
        "my MARGARET.H passphrase",
        "margaret.h@shop.example",
    ):
        with pytest.raises(APIError) as refused:
            users.check_password(password, email="Margaret.H@shop.example")
        assert "email" in refused.value.message


@pytest.mark.parametrize(
    "password", ["correct horse battery", "plum kettle orbit 7", "Tr0ub4dor&3-staple"]
)
def test_good_passwords_pass(password: str) -> None:
    users.check_password(password, email="margaret.h@shop.example")


async def test_the_invitation_form_refuses_a_weak_password_and_creates_no_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "admin"))
    email = unique("policy").replace(" ", "-") + "@example.com"
    path = await invite(client, csrf, email, "member")
    async with fresh_client(app, "198.18.242.1") as invitee:
        token = csrf_of((await invitee.get(path)).text)
        local = email.partition("@")[0]
        for weak in ("1111111111", "password1234", f"{local}-2026"):
            refused = await invitee.post(
                path, data={"csrf_token": token, "password": weak, "password_confirm": weak}
            )
            assert refused.status_code == 400, weak
            assert "password" in refused.text.lower()
        async with app.state.sessionmaker() as session:
            assert await users.find_by_email(session, email) is None
        good = "plum kettle orbit 7"
        created = await invitee.post(
            path, data={"csrf_token": token, "password": good, "password_confirm": good}
        )
        assert created.status_code == 200 and "Now sign in as" in created.text
    async with app.state.sessionmaker() as session:
        assert await users.find_by_email(session, email) is not None


async def sessions_of(app: FastAPI, user_id: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).where(UserSession.user_id == user_id)
        return int(await session.scalar(query) or 0)


async def test_an_idle_session_ends_after_two_hours_by_default(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    user = await make_user(app, await make_org(app))
    await login(client, user)
    frozen_clock.advance(timedelta(hours=2) - timedelta(seconds=5))
    assert (await client.get("/dashboard/bots")).status_code == 200
    # Used just now, so another 1 h 59 min later it is still alive (4 h in all)...
    frozen_clock.advance(timedelta(hours=2) - timedelta(seconds=5))
    assert (await client.get("/dashboard/bots")).status_code == 200
    # ...but two hours without a request end it, long before the 12-hour lifetime.
    frozen_clock.advance(timedelta(hours=2))
    gone = await client.get("/dashboard/bots")
    assert gone.status_code == 303
    assert gone.headers["location"].startswith("/dashboard/login")
    assert await sessions_of(app, user.id) == 0


async def test_activity_never_outlasts_the_absolute_lifetime(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    user = await make_user(app, await make_org(app))
    await login(client, user)
    ttl = app.state.settings.session_ttl_hours
    for _ in range(ttl - 1):
        frozen_clock.advance(timedelta(hours=1))
        assert (await client.get("/dashboard/bots")).status_code == 200
    frozen_clock.advance(timedelta(hours=1))
    assert (await client.get("/dashboard/bots")).status_code == 303


async def test_the_idle_timeout_is_a_setting(database_url: str, frozen_clock: FrozenClock) -> None:
    async with app_with(database_url, session_idle_minutes=5) as short_app:
        user = await make_user(short_app, await make_org(short_app))
        async with client_from(short_app, "198.18.242.2") as browser:
            await login(browser, user)
            frozen_clock.advance(timedelta(minutes=4))
            assert (await browser.get("/dashboard/bots")).status_code == 200
            frozen_clock.advance(timedelta(minutes=5, seconds=1))
            assert (await browser.get("/dashboard/bots")).status_code == 303
