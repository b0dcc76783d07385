"""Settings > Team over HTTP: invite and accept, roles, removal, and the contract's rules."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from botyard.dashboard.sessions import SESSION_COOKIE
from botyard.users import service as users
from tests.dashboard.helpers import csrf_of, login, set_cookie_headers
from tests.factories import make_org, make_user

TEAM = "/dashboard/settings/team"
LINK = re.compile(r'value="(http[^"]*/dashboard/invitations/([^"]+))"')


async def invite(client: httpx.AsyncClient, csrf: str, email: str, role: str) -> str:
    """Returns the accept path shown once in the response."""
    response = await client.post(
        f"{TEAM}/invitations", data={"csrf_token": csrf, "email": email, "role": role}
    )
    assert response.status_code == 200, response.text
    match = LINK.search(response.text)
    assert match, "the accept link is shown"
    return f"/dashboard/invitations/{match.group(2)}"


def fresh_client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_invite_shows_the_link_once_and_the_new_user_joins_by_signing_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "admin"))
    email = f"new-{org.id[-6:].lower()}@example.com"
    path = await invite(client, csrf, email, "member")
    team_page = (await client.get(TEAM)).text
    assert email in team_page  # pending invitation listed
    assert path.rsplit("/", 1)[1] not in team_page  # ...but its link is never shown again

    async with fresh_client(app, "198.18.240.9") as invitee:
        page = await invitee.get(path)
        assert page.status_code == 200
        assert org.name in page.text and "Member" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        mismatch = await invitee.post(
            path,
            data={
                "csrf_token": csrf_of(page.text),
                "name": "New Person",
                "password": "long enough pw",
                "password_confirm": "something else",
            },
        )
        assert mismatch.status_code == 400
        created = await invitee.post(
            path,
            data={
                "csrf_token": csrf_of(page.text),
                "name": "New Person",
                "password": "long enough pw",
                "password_confirm": "long enough pw",
            },
        )
        # Creating the account signs nobody in: the new user signs in, which accepts.
        assert created.status_code == 200
        assert "Now sign in as" in created.text
        assert not set_cookie_headers(created, SESSION_COOKIE)
        accepted = await invitee.post(
            "/dashboard/login",
            data={
                "csrf_token": csrf_of(created.text),
                "email": email,
                "password": "long enough pw",
                "next": path,
                "accept_invitation": "1",
            },
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/dashboard/bots"
        assert set_cookie_headers(accepted, SESSION_COOKIE)
        bots_page = await invitee.get("/dashboard/bots")
        assert bots_page.status_code == 200
        assert email in bots_page.text and org.name in bots_page.text
        used = await invitee.get(path)
        assert "already accepted" in used.text
    assert "New Person" in (await client.get(TEAM)).text


async def test_invitation_page_needs_its_csrf_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "owner"))
    path = await invite(client, csrf, f"c-{org.id[-6:].lower()}@example.com", "member")
    async with fresh_client(app, "198.18.240.10") as invitee:
        await invitee.get(path)
        refused = await invitee.post(
            path, data={"csrf_token": "forged", "password": "long enough pw"}
        )
    assert refused.status_code == 403


async def test_unknown_invitation_link(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/invitations/not-a-real-token")
    assert response.status_code == 404
    assert "not valid" in response.text


async def test_roles_change_and_members_leave_by_the_rules(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    member = await make_user(app, org, "member")
    csrf = await login(client, owner)

    # The only owner cannot demote themselves, and is not even offered the choice.
    page = (await client.get(TEAM)).text
    assert "the only owner" in page
    refused = await client.post(
        f"{TEAM}/members/{owner.id}/role", data={"csrf_token": csrf, "role": "admin"}
    )
    assert refused.status_code == 409
    assert "only owner" in refused.text

    promoted = await client.post(
        f"{TEAM}/members/{member.id}/role", data={"csrf_token": csrf, "role": "admin"}
    )
    assert promoted.status_code == 303
    async with app.state.sessionmaker() as session:
        membership = await users.membership(session, org.id, member.id)
        assert membership is not None and membership.role == "admin"

    confirm = await client.get(f"{TEAM}/members/{member.id}/remove")
    assert "loses access" in confirm.text
    removed = await client.post(f"{TEAM}/members/{member.id}/remove", data={"csrf_token": csrf})
    assert removed.status_code == 303
    async with app.state.sessionmaker() as session:
        assert await users.membership(session, org.id, member.id) is None


async def test_admins_cannot_touch_owners_or_make_owners(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    admin = await make_user(app, org, "admin")
    csrf = await login(client, admin)
    page = (await client.get(TEAM)).text
    assert '<option value="owner"' not in page
    for path, data in (
        (f"{TEAM}/members/{owner.id}/role", {"role": "member"}),
        (f"{TEAM}/members/{owner.id}/remove", {}),
        (f"{TEAM}/invitations", {"email": "boss@example.com", "role": "owner"}),
    ):
        refused = await client.post(path, data={**data, "csrf_token": csrf})
        assert refused.status_code == 403, path
        assert "only an owner" in refused.text


async def test_members_see_the_team_but_cannot_manage_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    csrf = await login(client, await make_user(app, org, "member"))
    page = await client.get(TEAM)
    assert owner.email in page.text
    assert "Only Admins and Owners manage the team." in page.text
    assert 'id="invite-form"' not in page.text
    refused = await client.post(
        f"{TEAM}/invitations",
        data={"csrf_token": csrf, "email": "friend@example.com", "role": "member"},
    )
    assert refused.status_code == 403


async def test_another_organizations_member_is_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    stranger = await make_user(app, await make_org(app), "member")
    csrf = await login(client, await make_user(app, await make_org(app), "owner"))
    response = await client.post(f"{TEAM}/members/{stranger.id}/remove", data={"csrf_token": csrf})
    assert response.status_code == 404
