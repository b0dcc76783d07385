"""Team rules as the dashboard uses them: accepting invitations, owners, the last owner."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from botyard.audit.models import AuditEvent
from botyard.audit.service import Actor
from botyard.core.clock import FrozenClock
from botyard.core.errors import APIError
from botyard.organizations.models import Organization
from botyard.team import service as team
from botyard.team.models import Invitation
from botyard.users import service as users
from botyard.users.models import Role
from botyard.users.passwords import verify_password
from tests.factories import make_org, make_user

PASSWORD = "a long enough password"


async def invite(app: FastAPI, org: Organization, email: str, role: Role = Role.MEMBER) -> str:
    async with app.state.sessionmaker() as session:
        _, token = await team.invite(
            session,
            org,
            email=email,
            role=role,
            actor=Actor("user", "usr_inviter", "192.0.2.1"),
            acting_role=Role.OWNER,
        )
        await session.commit()
        return token


async def accept(
    app: FastAPI, token: str, password: str = PASSWORD, name: str = ""
) -> tuple[str, str]:
    """A new user: choose a password, then (signed in) accept."""
    async with app.state.sessionmaker() as session:
        await team.create_invited_account(session, token, password, name)
        invitation = await team.find_invitation(session, token)
        user = await users.find_by_email(session, invitation.email)
        assert user is not None
        membership = await team.accept_as(session, token, user.id, ip="192.0.2.9")
        await session.commit()
        return user.id, membership.role


async def failed_attempts(app: FastAPI, token: str) -> int:
    async with app.state.sessionmaker() as session:
        return (await team.find_invitation(session, token)).failed_attempts


async def test_accepting_creates_the_user_and_the_membership(app: FastAPI) -> None:
    org = await make_org(app)
    token = await invite(app, org, "fresh@example.com", Role.ADMIN)
    user_id, role = await accept(app, token, name="Fresh Person")
    assert role == "admin"
    async with app.state.sessionmaker() as session:
        user = await users.find_by_email(session, "fresh@example.com")
        assert user is not None and user.id == user_id
        assert user.name == "Fresh Person"
        assert verify_password(user.password_hash, PASSWORD)
        assert await users.membership(session, org.id, user_id) is not None
        invitation = (
            await session.scalars(select(Invitation).where(Invitation.organization_id == org.id))
        ).one()
        assert team.invitation_status(invitation) is team.InvitationStatus.ACCEPTED
        joined = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.organization_id == org.id, AuditEvent.action == "member.joined"
                )
            )
        ).one()
        assert (joined.actor_type, joined.actor_id, joined.ip) == ("user", user_id, "192.0.2.9")


async def test_creating_the_account_neither_joins_nor_signs_in(app: FastAPI) -> None:
    org = await make_org(app)
    token = await invite(app, org, "later@example.com")
    async with app.state.sessionmaker() as session:
        await team.create_invited_account(session, token, PASSWORD)
        await session.commit()
    async with app.state.sessionmaker() as session:
        user = await users.find_by_email(session, "later@example.com")
        assert user is not None
        assert await users.membership(session, org.id, user.id) is None
        invitation = await team.find_invitation(session, token)
        assert team.invitation_status(invitation) is team.InvitationStatus.PENDING


async def test_an_invitation_works_once(app: FastAPI) -> None:
    org = await make_org(app)
    token = await invite(app, org, "once@example.com")
    user_id, _ = await accept(app, token)
    async with app.state.sessionmaker() as session:
        with pytest.raises(APIError) as used:
            await team.accept_as(session, token, user_id)
    assert (used.value.status_code, used.value.code) == (409, "invitation_used")


async def test_an_expired_invitation_is_refused(app: FastAPI, frozen_clock: FrozenClock) -> None:
    org = await make_org(app)
    token = await invite(app, org, "late@example.com")
    frozen_clock.advance(timedelta(days=7))
    with pytest.raises(APIError) as expired:
        await accept(app, token)
    assert (expired.value.status_code, expired.value.code) == (410, "invitation_expired")
    assert "invite you again" in expired.value.message


async def test_an_unknown_token_is_refused(app: FastAPI) -> None:
    with pytest.raises(APIError) as unknown:
        await accept(app, "not-a-real-token")
    assert (unknown.value.status_code, unknown.value.code) == (404, "invitation_not_found")


async def test_an_existing_account_is_never_changed_by_the_token(app: FastAPI) -> None:
    """The token goes to whoever invited; it must not let them take over an existing account."""
    elsewhere = await make_org(app)
    existing = await make_user(app, elsewhere, "owner", password="original password 1")
    org = await make_org(app)
    token = await invite(app, org, existing.email)
    for password in ("attacker chosen password", "original password 1"):
        async with app.state.sessionmaker() as session:
            await team.create_invited_account(session, token, password)  # no error: no oracle
            await session.commit()
    assert await failed_attempts(app, token) == 2
    async with app.state.sessionmaker() as session:
        user = await users.find_by_email(session, existing.email)
        assert user is not None and verify_password(user.password_hash, "original password 1")
        assert await users.membership(session, org.id, existing.id) is None
    # Signed in as that user (the login checked the password), accepting works.
    async with app.state.sessionmaker() as session:
        membership = await team.accept_as(session, token, existing.id)
        await session.commit()
    assert membership.role == "member"


async def test_another_account_cannot_accept_and_enough_failures_void_the_link(
    app: FastAPI,
) -> None:
    org = await make_org(app)
    inviter = await make_user(app, org, "admin")
    invitee = await make_user(app, await make_org(app), "owner")
    token = await invite(app, org, invitee.email)
    for attempt in range(1, team.MAX_FAILED_ATTEMPTS + 1):
        async with app.state.sessionmaker() as session:
            with pytest.raises(APIError) as wrong:
                await team.accept_as(session, token, inviter.id)
            await session.commit()
        assert (wrong.value.status_code, wrong.value.code) == (403, "invitation_wrong_account")
        assert await failed_attempts(app, token) == attempt
    async with app.state.sessionmaker() as session:
        with pytest.raises(APIError) as voided:
            await team.accept_as(session, token, invitee.id)
        invitation = await team.find_invitation(session, token)
    assert (voided.value.status_code, voided.value.code) == (410, "invitation_voided")
    assert team.invitation_status(invitation) is team.InvitationStatus.EXPIRED


async def test_concurrent_failures_all_count(app: FastAPI) -> None:
    """The counter is one UPDATE, so simultaneous failures cannot overwrite each other."""
    org = await make_org(app)
    intruder = await make_user(app, org, "admin")
    token = await invite(app, org, "target@example.com")

    async def fail_once() -> None:
        async with app.state.sessionmaker() as session:
            with pytest.raises(APIError):
                await team.accept_as(session, token, intruder.id)
            await session.commit()

    await asyncio.gather(*(fail_once() for _ in range(3)))
    assert await failed_attempts(app, token) == 3


async def test_a_weak_password_is_refused(app: FastAPI) -> None:
    token = await invite(app, await make_org(app), "weak@example.com")
    with pytest.raises(APIError) as weak:
        await accept(app, token, password="short")
    assert weak.value.code == "weak_password"
    await accept(app, token)


async def test_the_last_owner_can_neither_be_demoted_nor_leave(app: FastAPI) -> None:
    org = await make_org(app)
    only_owner = await make_user(app, org, "owner")
    actor = Actor("user", only_owner.id)
    async with app.state.sessionmaker() as session:
        member = await team.get_member(session, org.id, only_owner.id)
        with pytest.raises(APIError) as demote:
            await team.change_role(session, member, Role.ADMIN, actor=actor, acting_role=Role.OWNER)
        assert (demote.value.status_code, demote.value.code) == (409, "last_owner")
        assert "only owner" in demote.value.message
        with pytest.raises(APIError) as leave:
            await team.remove_member(session, member, actor=actor, acting_role=Role.OWNER)
        assert (leave.value.status_code, leave.value.code) == (409, "last_owner")
        await session.rollback()


async def test_an_owner_manages_owners_when_another_owner_remains(app: FastAPI) -> None:
    org = await make_org(app)
    first = await make_user(app, org, "owner")
    second = await make_user(app, org, "admin")
    actor = Actor("user", first.id)
    async with app.state.sessionmaker() as session:
        promoted = await team.change_role(
            session,
            await team.get_member(session, org.id, second.id),
            Role.OWNER,
            actor=actor,
            acting_role=Role.OWNER,
        )
        assert promoted.role is Role.OWNER
        leaving = await team.get_member(session, org.id, first.id)
        await team.remove_member(session, leaving, actor=actor, acting_role=Role.OWNER)
        await session.commit()
    async with app.state.sessionmaker() as session:
        assert await users.count_owners(session, org.id) == 1
        assert await users.membership(session, org.id, first.id) is None


async def test_members_do_not_manage_the_team(app: FastAPI) -> None:
    org = await make_org(app)
    member = await make_user(app, org, "member")
    other = await make_user(app, org, "member")
    async with app.state.sessionmaker() as session:
        with pytest.raises(APIError) as refused:
            await team.change_role(
                session,
                await team.get_member(session, org.id, other.id),
                Role.ADMIN,
                actor=Actor("user", member.id),
                acting_role=Role.MEMBER,
            )
        assert refused.value.code == "role_required"
        await session.rollback()
