"""Password reset (issue 16 item 15): a one-time link from the CLI or from Settings > Team, valid
for an hour and stored hashed, a page that sets the new password, and every session ending."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.core.clock import FrozenClock
from botyard.log_redaction import redact
from botyard.users import service as users
from botyard.users.models import PasswordReset, Role, User, UserSession
from tests.cli.runner import Botyard
from tests.dashboard.helpers import PASSWORD, csrf_of, login, set_cookie_headers
from tests.dashboard.test_team import TEAM, fresh_client
from tests.factories import make_org, make_user

RESET_LINK = re.compile(
    r'id="reset-link"[^>]*value="(http[^"]*(/dashboard/reset-password/([^"]+)))"'
)
NEW_PASSWORD = "plum kettle orbit 7"


async def reset_link(client: httpx.AsyncClient, csrf: str, user: User) -> str:
    """Settings > Team's action for ``user``; returns the link's path, shown once."""
    response = await client.post(
        f"{TEAM}/members/{user.id}/password-reset", data={"csrf_token": csrf}
    )
    assert response.status_code == 200, response.text
    match = RESET_LINK.search(response.text)
    assert match, "the reset link is shown"
    return match.group(2)


async def set_password(
    app: FastAPI, path: str, password: str, confirm: str | None = None, ip: str = "198.18.243.9"
) -> httpx.Response:
    async with fresh_client(app, ip) as browser:
        page = await browser.get(path)
        if page.status_code != 200:
            return page
        return await browser.post(
            path,
            data={
                "csrf_token": csrf_of(page.text),
                "password": password,
                "password_confirm": password if confirm is None else confirm,
            },
        )


async def sessions_of(app: FastAPI, user_id: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).where(UserSession.user_id == user_id)
        return int(await session.scalar(query) or 0)


async def can_sign_in(app: FastAPI, user: User, password: str) -> bool:
    async with fresh_client(app, "198.18.243.20") as browser:
        form = await browser.get("/dashboard/login")
        answer = await browser.post(
            "/dashboard/login",
            data={"email": user.email, "password": password, "csrf_token": csrf_of(form.text)},
        )
        return answer.status_code == 303


async def test_an_admin_makes_a_link_and_the_member_sets_a_new_password(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "admin"))
    member = await make_user(app, org, "member")
    async with fresh_client(app, "198.18.243.1") as members_browser:
        await login(members_browser, member)
        assert await sessions_of(app, member.id) == 1

        path = await reset_link(client, csrf, member)
        token = path.rsplit("/", 1)[1]
        assert token not in (await client.get(TEAM)).text  # shown once only
        async with app.state.sessionmaker() as session:
            stored = (
                await session.scalars(
                    select(PasswordReset).where(PasswordReset.user_id == member.id)
                )
            ).one()
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert stored.expires_at - stored.created_at == timedelta(hours=1)

        differ = await set_password(app, path, NEW_PASSWORD, confirm="something else")
        assert differ.status_code == 400 and "differ" in differ.text
        weak = await set_password(app, path, "1111111111")
        assert weak.status_code == 400 and "too easy to guess" in weak.text
        done = await set_password(app, path, NEW_PASSWORD)
        assert done.status_code == 200 and "Password changed" in done.text
        assert done.headers["referrer-policy"] == "no-referrer"
        assert not set_cookie_headers(done, "botyard_session")  # it signs nobody in

        # Every session of that user ended: the browser signed in before is signed out.
        assert await sessions_of(app, member.id) == 0
        assert (await members_browser.get("/dashboard/bots")).status_code == 303
    assert not await can_sign_in(app, member, PASSWORD)
    assert await can_sign_in(app, member, NEW_PASSWORD)
    # One use only.
    again = await set_password(app, path, "another fine passphrase 9")
    assert again.status_code == 404 and "not valid" in again.text


async def test_a_link_expires_after_an_hour_and_a_newer_link_replaces_it(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "owner"))
    member = await make_user(app, org, "admin")
    first = await reset_link(client, csrf, member)
    second = await reset_link(client, csrf, member)
    assert (await set_password(app, first, NEW_PASSWORD)).status_code == 404
    frozen_clock.advance(timedelta(hours=1))
    expired = await set_password(app, second, NEW_PASSWORD)
    assert expired.status_code == 404 and "one hour" in expired.text
    async with app.state.sessionmaker() as session:
        user = await session.get(User, member.id)
        assert user is not None and await can_sign_in(app, user, PASSWORD)


async def test_who_may_make_a_link_for_whom(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    admin, owner = await make_user(app, org, "admin"), await make_user(app, org, "owner")
    member = await make_user(app, org, "member")
    csrf = await login(client, admin)
    # An admin cannot take over an owner's account by resetting it.
    refused = await client.post(
        f"{TEAM}/members/{owner.id}/password-reset", data={"csrf_token": csrf}
    )
    assert refused.status_code == 403 and "only an owner" in refused.text
    # Nor an account that also belongs to another organization: the link would open that too.
    elsewhere = await make_org(app)
    async with app.state.sessionmaker() as session:
        await users.add_member(session, elsewhere, member, Role.OWNER)
        await session.commit()
    cross = await client.post(
        f"{TEAM}/members/{member.id}/password-reset", data={"csrf_token": csrf}
    )
    assert cross.status_code == 409
    assert "botyard users reset-password" in cross.text
    # Another organization's user is not found here.
    stranger = await make_user(app, await make_org(app), "member")
    missing = await client.post(
        f"{TEAM}/members/{stranger.id}/password-reset", data={"csrf_token": csrf}
    )
    assert missing.status_code == 404
    async with app.state.sessionmaker() as session:
        count = select(func.count()).select_from(PasswordReset)
        made = await session.scalar(
            count.where(PasswordReset.user_id.in_([owner.id, member.id, stranger.id]))
        )
    assert made == 0

    # A member manages nobody.
    async with fresh_client(app, "198.18.243.30") as members_browser:
        member_csrf = await login(members_browser, await make_user(app, org, "member"))
        denied = await members_browser.post(
            f"{TEAM}/members/{admin.id}/password-reset", data={"csrf_token": member_csrf}
        )
    assert denied.status_code == 403


async def test_the_cli_prints_a_one_time_link(
    app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the CLI is exercised on SQLite; the service is the same on PostgreSQL")
    user = await make_user(app, await make_org(app), "member")
    cli = Botyard(database_url, tmp_path)
    public = "https://botyard.example"
    result = cli.ok(
        "users", "reset-password", user.email.upper(), env={"BOTYARD_PUBLIC_URL": public}
    )
    link = result.stdout.strip()
    assert re.fullmatch(rf"{public}/dashboard/reset-password/[A-Za-z0-9_-]{{43}}", link), link
    assert "1 hour" in result.stderr
    path = link.removeprefix(public)
    assert (await set_password(app, path, NEW_PASSWORD)).status_code == 200
    assert await can_sign_in(app, user, NEW_PASSWORD)
    unknown = cli.run("users", "reset-password", "nobody@example.com")
    assert unknown.returncode != 0 and "no user has the email" in unknown.stderr


def test_reset_tokens_are_redacted_from_access_logs() -> None:
    line = '127.0.0.1:5000 - "GET /dashboard/reset-password/s3cr3t-t0ken HTTP/1.1" 200'
    assert (
        redact(line) == '127.0.0.1:5000 - "GET /dashboard/reset-password/[redacted] HTTP/1.1" 200'
    )
