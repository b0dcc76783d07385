"""/v1/team over HTTP: members, invitations, roles, removal, the owner rules and their audit."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from botyard.audit.models import AuditEvent
from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from botyard.organizations.models import Organization
from botyard.team.models import Invitation
from botyard.users.models import Membership, User
from tests.factories import auth, make_key, make_org, make_user

CALLER_IP = "203.0.113.50"


@pytest.fixture
async def caller(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a known address, so audit events can be checked for it."""
    transport = httpx.ASGITransport(app=app, client=(CALLER_IP, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def admin_of(app: FastAPI, org: Organization) -> tuple[str, dict[str, str]]:
    row, plaintext = await make_key(app, org, ["admin"])
    return row.id, auth(plaintext)


async def events(app: FastAPI, org_id: str, action: str) -> list[AuditEvent]:
    async with app.state.sessionmaker() as session:
        query = select(AuditEvent).where(
            AuditEvent.organization_id == org_id, AuditEvent.action == action
        )
        return list((await session.scalars(query)).all())


async def role_of(app: FastAPI, org_id: str, user_id: str) -> str | None:
    async with app.state.sessionmaker() as session:
        member = (
            await session.scalars(
                select(Membership).where(
                    Membership.organization_id == org_id, Membership.user_id == user_id
                )
            )
        ).first()
        return member.role if member else None


async def test_members_are_listed_with_their_roles(app: FastAPI, caller: httpx.AsyncClient) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    member = await make_user(app, org, "member")
    await make_user(app, await make_org(app), "owner")  # another organization's
    _, headers = await admin_of(app, org)
    response = await caller.get("/v1/team/members", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert set(by_id) == {owner.id, member.id}
    assert by_id[owner.id]["email"] == owner.email
    assert by_id[owner.id]["role"] == "owner"
    assert by_id[member.id]["role"] == "member"
    assert by_id[member.id]["object"] == "team_member"
    assert by_id[member.id]["joined_at"].endswith("Z")
    paged = await caller.get("/v1/team/members", headers=headers, params={"limit": 1})
    assert len(paged.json()["data"]) == 1 and paged.json()["has_more"] is True


async def test_invite_returns_the_token_and_link_once_and_stores_only_its_hash(
    app: FastAPI, caller: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    key_id, headers = await admin_of(app, org)
    response = await caller.post(
        "/v1/team/members",
        headers=headers,
        json={"email": " New.Dev@Example.com ", "role": "admin"},
    )
    assert response.status_code == 201, response.text
    invitation = response.json()
    token = invitation["token"]
    assert invitation["object"] == "invitation"
    assert invitation["email"] == "new.dev@example.com"
    assert invitation["role"] == "admin"
    assert invitation["status"] == "pending"
    assert invitation["invited_by"] == key_id
    assert invitation["expires_at"] == rfc3339(frozen_clock.now() + timedelta(days=7))
    public_url = app.state.settings.public_url
    assert invitation["accept_url"] == f"{public_url}/dashboard/invitations/{token}"
    assert len(token) >= 32

    async with app.state.sessionmaker() as session:
        stored = await session.get(Invitation, invitation["id"])
        assert stored is not None
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str(vars(stored))

    listed = await caller.get("/v1/team/invitations", headers=headers)
    assert [i["id"] for i in listed.json()["data"]] == [invitation["id"]]
    assert token not in listed.text

    (event,) = await events(app, org.id, "member.invited")
    assert (event.actor_type, event.actor_id, event.ip) == ("api_key", key_id, CALLER_IP)
    assert event.data == {"email": "new.dev@example.com", "role": "admin"}
    assert token not in str(event.data)


async def test_inviting_again_replaces_the_pending_invitation(
    app: FastAPI, caller: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    _, headers = await admin_of(app, org)
    first = (
        await caller.post("/v1/team/members", headers=headers, json={"email": "again@example.com"})
    ).json()
    second = (
        await caller.post("/v1/team/members", headers=headers, json={"email": "again@example.com"})
    ).json()
    assert first["token"] != second["token"]
    listed = await caller.get("/v1/team/invitations", headers=headers)
    assert [i["id"] for i in listed.json()["data"]] == [second["id"]]
    assert second["role"] == "member"


async def test_an_existing_user_of_another_organization_is_still_invited(
    app: FastAPI, caller: httpx.AsyncClient
) -> None:
    elsewhere = await make_user(app, await make_org(app), "owner")
    org = await make_org(app)
    _, headers = await admin_of(app, org)
    response = await caller.post(
        "/v1/team/members", headers=headers, json={"email": elsewhere.email}
    )
    assert response.status_code == 201
    assert response.json()["email"] == elsewhere.email


async def test_members_cannot_be_invited_twice(app: FastAPI, caller: httpx.AsyncClient) -> None:
    org = await make_org(app)
    member = await make_user(app, org, "member")
    _, headers = await admin_of(app, org)
    response = await caller.post(
        "/v1/team/members", headers=headers, json={"email": member.email.upper()}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_member"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"email": "not-an-address"}, 422, "email"),
        ({"email": "two words@example.com"}, 422, "email"),
        ({"email": "someone@example.com", "role": "superuser"}, 422, "role"),
        ({"role": "member"}, 422, "email"),
        ({"email": "someone@example.com", "team": "x"}, 422, "team"),
    ],
)
async def test_invalid_invitations_name_the_field(
    app: FastAPI, caller: httpx.AsyncClient, body: dict[str, Any], status: int, param: str
) -> None:
    _, headers = await admin_of(app, await make_org(app))
    response = await caller.post("/v1/team/members", headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


async def test_a_key_acts_as_an_admin_and_never_grants_or_touches_ownership(
    app: FastAPI, caller: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    await make_user(app, org, "owner")
    member = await make_user(app, org, "member")
    _, headers = await admin_of(app, org)

    invite_owner = await caller.post(
        "/v1/team/members", headers=headers, json={"email": "boss@example.com", "role": "owner"}
    )
    promote = await caller.patch(
        f"/v1/team/members/{member.id}", headers=headers, json={"role": "owner"}
    )
    demote = await caller.patch(
        f"/v1/team/members/{owner.id}", headers=headers, json={"role": "admin"}
    )
    remove = await caller.delete(f"/v1/team/members/{owner.id}", headers=headers)
    for response in (invite_owner, promote, demote, remove):
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "owner_required"
        assert error["message"].startswith("Insufficient Permissions: only an owner can")
    assert await role_of(app, org.id, owner.id) == "owner"
    assert await role_of(app, org.id, member.id) == "member"
    assert await events(app, org.id, "member.role_changed") == []


async def test_change_role_is_audited(app: FastAPI, caller: httpx.AsyncClient) -> None:
    org = await make_org(app)
    member = await make_user(app, org, "member")
    key_id, headers = await admin_of(app, org)
    response = await caller.patch(
        f"/v1/team/members/{member.id}", headers=headers, json={"role": "admin"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert response.json()["id"] == member.id
    assert await role_of(app, org.id, member.id) == "admin"
    (event,) = await events(app, org.id, "member.role_changed")
    assert (event.actor_id, event.ip, event.target_id) == (key_id, CALLER_IP, member.id)
    assert event.data["from"] == "member" and event.data["to"] == "admin"

    unchanged = await caller.patch(
        f"/v1/team/members/{member.id}", headers=headers, json={"role": "admin"}
    )
    assert unchanged.status_code == 200
    assert len(await events(app, org.id, "member.role_changed")) == 1
    bad = await caller.patch(
        f"/v1/team/members/{member.id}", headers=headers, json={"role": "king"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "role"


async def test_remove_member_is_audited_and_keeps_the_account(
    app: FastAPI, caller: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    member = await make_user(app, org, "admin")
    key_id, headers = await admin_of(app, org)
    response = await caller.delete(f"/v1/team/members/{member.id}", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"object": "team_member", "id": member.id, "deleted": True}
    assert await role_of(app, org.id, member.id) is None
    async with app.state.sessionmaker() as session:
        assert await session.get(User, member.id) is not None
    (event,) = await events(app, org.id, "member.removed")
    assert (event.actor_id, event.ip, event.target_id) == (key_id, CALLER_IP, member.id)
    assert event.data == {"email": member.email, "role": "admin"}
    again = await caller.delete(f"/v1/team/members/{member.id}", headers=headers)
    assert again.status_code == 404
    assert again.json()["error"]["param"] == "usr_id"


async def test_another_organizations_member_is_not_found(
    app: FastAPI, caller: httpx.AsyncClient
) -> None:
    stranger = await make_user(app, await make_org(app), "member")
    _, headers = await admin_of(app, await make_org(app))
    missing = await caller.patch(
        "/v1/team/members/usr_doesnotexist", headers=headers, json={"role": "admin"}
    )
    foreign = await caller.patch(
        f"/v1/team/members/{stranger.id}", headers=headers, json={"role": "admin"}
    )
    assert foreign.status_code == missing.status_code == 404
    bodies = [missing.json(), foreign.json()]
    for body in bodies:
        body["error"].pop("request_id")
    assert bodies[0] == bodies[1]
    assert (
        await caller.delete(f"/v1/team/members/{stranger.id}", headers=headers)
    ).status_code == 404


async def test_cancel_invitation(app: FastAPI, caller: httpx.AsyncClient) -> None:
    org = await make_org(app)
    key_id, headers = await admin_of(app, org)
    invitation = (
        await caller.post("/v1/team/members", headers=headers, json={"email": "c@example.com"})
    ).json()
    response = await caller.delete(f"/v1/team/invitations/{invitation['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"object": "invitation", "id": invitation["id"], "deleted": True}
    assert (await caller.get("/v1/team/invitations", headers=headers)).json()["data"] == []
    (event,) = await events(app, org.id, "member.invitation_cancelled")
    assert event.actor_id == key_id
    again = await caller.delete(f"/v1/team/invitations/{invitation['id']}", headers=headers)
    assert again.status_code == 404


async def test_team_routes_need_the_admin_scope(app: FastAPI, caller: httpx.AsyncClient) -> None:
    org = await make_org(app)
    member = await make_user(app, org, "member")
    _, write_key = await make_key(app, org, ["write"])
    for method, path, body in (
        ("GET", "/v1/team/members", None),
        ("POST", "/v1/team/members", {"email": "x@example.com"}),
        ("PATCH", f"/v1/team/members/{member.id}", {"role": "admin"}),
        ("DELETE", f"/v1/team/members/{member.id}", None),
    ):
        response = await caller.request(method, path, headers=auth(write_key), json=body)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "missing_scope"
    assert await role_of(app, org.id, member.id) == "member"
