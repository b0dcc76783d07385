"""Issue 17.1: an invitation must never sign anyone in, nor say whether its address has an account.

The attack: an admin of any organization (a free one will do) invites an existing user's
email, then posts guessed passwords, and finally the right one, to the invitation's page.
Before the fix the right password answered 303 with a session for the victim's account,
which could then switch into the victim's own organization.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.dashboard.sessions import LOGIN_ATTEMPTS, SESSION_COOKIE
from botyard.team import service as team
from botyard.users import service as users
from botyard.users.models import UserSession
from botyard.users.passwords import verify_password
from tests.dashboard.helpers import PASSWORD, csrf_of, login, set_cookie_headers
from tests.dashboard.test_team import fresh_client, invite
from tests.factories import make_org, make_user, unique

GUESSES = ["password1234", "letmein-please", "victim-2026!!"]


async def sessions_of(app: FastAPI, user_id: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).where(UserSession.user_id == user_id)
        return int(await session.scalar(query) or 0)


def fresh_email() -> str:
    return unique("nobody").replace(" ", "-") + "@example.com"


async def test_guessing_the_password_on_an_invitation_never_opens_the_victims_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    victim_org = await make_org(app, plan="enterprise")
    victim = await make_user(app, victim_org, "owner")
    free_org = await make_org(app, plan="free")
    csrf = await login(client, await make_user(app, free_org, "admin"))
    path = await invite(client, csrf, victim.email, "member")

    async with fresh_client(app, "198.18.241.1") as attacker:
        page = await attacker.get(path)
        token = csrf_of(page.text)
        answers = []
        for guess in [*GUESSES, PASSWORD]:
            for form in (
                {"password": guess},
                {"password": guess, "password_confirm": guess, "name": "x"},
            ):
                answer = await attacker.post(path, data={"csrf_token": token, **form})
                answers.append(answer)
        for answer in answers:
            # 400: a guess the password policy refuses, before any account is looked up.
            assert answer.status_code in (200, 400, 410), answer.status_code
            assert not set_cookie_headers(answer, SESSION_COOKIE)
        # Without a session there is nothing to switch with.
        assert (await attacker.get("/dashboard/bots")).status_code in (302, 303, 307)
        switch = await attacker.post(
            "/dashboard/switch-organization",
            data={"csrf_token": token, "organization_id": victim_org.id},
        )
        assert switch.status_code == 403
        assert not set_cookie_headers(switch, SESSION_COOKIE)

    assert await sessions_of(app, victim.id) == 0
    async with app.state.sessionmaker() as session:
        account = await users.find_by_email(session, victim.email)
        assert account is not None and verify_password(account.password_hash, PASSWORD)
        assert await users.membership(session, free_org.id, victim.id) is None
        # The failures voided the link: it cannot be worked on any further.
        invitation = await team.find_invitation(session, path.rsplit("/", 1)[1])
        assert invitation.failed_attempts >= team.MAX_FAILED_ATTEMPTS
        assert team.invitation_status(invitation) is team.InvitationStatus.EXPIRED
    voided = await fresh_client(app, "198.18.241.2").get(path)
    assert "no longer works" in voided.text


async def test_the_attackers_own_session_cannot_accept_for_the_victim(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    victim_org = await make_org(app)
    victim = await make_user(app, victim_org, "owner")
    free_org = await make_org(app, plan="free")
    csrf = await login(client, await make_user(app, free_org, "owner"))
    path = await invite(client, csrf, victim.email, "admin")
    refused = await client.post(f"{path}/accept", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert f"this invitation is for {victim.email}" in refused.text.lower()
    switch = await client.post(
        "/dashboard/switch-organization",
        data={"csrf_token": csrf, "organization_id": victim_org.id},
    )
    assert switch.status_code == 403
    async with app.state.sessionmaker() as session:
        assert await users.membership(session, free_org.id, victim.id) is None
        invitation = await team.find_invitation(session, path.rsplit("/", 1)[1])
        assert invitation.failed_attempts == 1


async def test_the_page_reads_the_same_whether_or_not_the_address_has_an_account(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    existing = await make_user(app, await make_org(app), "owner")
    nobody = fresh_email()
    free_org = await make_org(app, plan="free")
    csrf = await login(client, await make_user(app, free_org, "admin"))
    paths = {
        existing.email: await invite(client, csrf, existing.email, "member"),
        nobody: await invite(client, csrf, nobody, "member"),
    }

    async with fresh_client(app, "198.18.241.3") as attacker:
        shown: dict[str, tuple[int, str]] = {}
        posted: dict[str, tuple[int, str]] = {}
        for email, path in paths.items():
            page = await attacker.get(path)
            token = path.rsplit("/", 1)[1]

            def same(response: httpx.Response, email: str = email, token: str = token) -> str:
                return response.text.replace(email, "EMAIL").replace(token, "TOKEN")

            shown[email] = (page.status_code, same(page))
            answer = await attacker.post(
                path,
                data={
                    "csrf_token": csrf_of(page.text),
                    "password": "a guessed password",
                    "password_confirm": "a guessed password",
                },
            )
            posted[email] = (answer.status_code, same(answer))
    assert shown[existing.email] == shown[nobody]
    assert posted[existing.email] == posted[nobody]
    assert shown[nobody][0] == 200 and posted[nobody][0] == 200


async def test_an_existing_user_joins_by_signing_in_through_the_limited_login(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    home_org = await make_org(app)
    invitee = await make_user(app, home_org, "owner")
    inviting_org = await make_org(app)
    csrf = await login(client, await make_user(app, inviting_org, "admin"))
    path = await invite(client, csrf, invitee.email, "admin")

    async with fresh_client(app, "198.18.241.4") as browser:
        page = await browser.get(path)
        assert 'id="signin-form"' in page.text
        token = csrf_of(page.text)
        signin = {"csrf_token": token, "email": invitee.email, "next": path}
        wrong = await browser.post(
            "/dashboard/login",
            data={**signin, "password": "not it at all", "accept_invitation": "1"},
        )
        assert wrong.status_code == 401
        assert 'name="accept_invitation"' in wrong.text  # a retry still accepts
        joined = await browser.post(
            "/dashboard/login", data={**signin, "password": PASSWORD, "accept_invitation": "1"}
        )
        assert joined.status_code == 303
        assert set_cookie_headers(joined, SESSION_COOKIE)
        bots = await browser.get("/dashboard/bots")
        assert inviting_org.name in bots.text
    async with app.state.sessionmaker() as session:
        joined_as = await users.membership(session, inviting_org.id, invitee.id)
        assert joined_as is not None and joined_as.role == "admin"
        assert await users.membership(session, home_org.id, invitee.id) is not None


async def test_signing_in_from_an_invitation_is_limited_like_any_login(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    victim = await make_user(app, await make_org(app), "owner")
    csrf = await login(client, await make_user(app, await make_org(app, plan="free"), "admin"))
    path = await invite(client, csrf, victim.email, "member")
    async with fresh_client(app, "198.18.241.5") as attacker:
        token = csrf_of((await attacker.get(path)).text)
        statuses = []
        for attempt in range(LOGIN_ATTEMPTS + 1):
            answer = await attacker.post(
                "/dashboard/login",
                data={
                    "csrf_token": token,
                    "email": victim.email,
                    "password": f"guess number {attempt}",
                    "next": path,
                    "accept_invitation": "1",
                },
            )
            statuses.append(answer.status_code)
    assert statuses[-1] == 429
    assert await sessions_of(app, victim.id) == 0


async def test_a_signed_in_invitee_joins_from_the_page(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    home_org = await make_org(app)
    invitee = await make_user(app, home_org, "owner")
    inviting_org = await make_org(app)
    csrf = await login(client, await make_user(app, inviting_org, "owner"))
    path = await invite(client, csrf, invitee.email, "member")
    async with fresh_client(app, "198.18.241.6") as browser:
        await login(browser, invitee)
        page = await browser.get(path)
        assert 'id="join-form"' in page.text and 'id="accept-form"' not in page.text
        joined = await browser.post(f"{path}/accept", data={"csrf_token": csrf_of(page.text)})
        assert joined.status_code == 303
        bots = await browser.get("/dashboard/bots")
        assert inviting_org.name in bots.text
    async with app.state.sessionmaker() as session:
        assert await users.membership(session, inviting_org.id, invitee.id) is not None
