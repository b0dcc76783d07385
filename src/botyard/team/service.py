"""Team rules: invitations, roles, removal, and the owner-only and last-owner rules.

Who may do what depends on the acting role: the dashboard passes the signed-in user's role;
an API key has no user, so an ``admin``-scoped key acts as an ``admin``. Owners and admins
manage the team; only owners grant or take away the owner role or remove an owner; the last
owner can neither leave nor be demoted.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from botyard.audit.service import Actor, record
from botyard.core import clock
from botyard.core.errors import APIError, Conflict, InsufficientPermissions, NotFound
from botyard.core.pagination import paginate
from botyard.core.timefmt import rfc3339
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization
from botyard.team.models import Invitation
from botyard.users import service as users
from botyard.users.models import Membership, PasswordReset, Role, User
from botyard.users.passwords import hash_password_async

INVITATION_TTL = timedelta(days=7)
MAX_FAILED_ATTEMPTS = 5
TOKEN_BYTES = 32


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Member:
    user: User
    membership: Membership

    @property
    def role(self) -> Role:
        return Role(self.membership.role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_status(invitation: Invitation, now: datetime | None = None) -> InvitationStatus:
    if invitation.accepted_at is not None:
        return InvitationStatus.ACCEPTED
    if invitation.expires_at <= (now or clock.now()):
        return InvitationStatus.EXPIRED
    return InvitationStatus.PENDING


def accept_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/dashboard/invitations/{token}"


def _require_manager(acting_role: Role) -> None:
    if not acting_role.manages_keys:
        raise InsufficientPermissions(
            "role_required",
            "only owners and admins manage the team; ask one of them to make this change.",
        )


def _require_owner(acting_role: Role, action: str) -> None:
    if acting_role is not Role.OWNER:
        raise InsufficientPermissions(
            "owner_required",
            f"only an owner can {action}. API keys act as admins, so an owner must do this "
            "from the dashboard.",
        )


def _last_owner(member: Member, what: str) -> Conflict:
    return Conflict(
        "last_owner",
        f"{member.user.email} is the organization's only owner and cannot {what}. "
        "Make another member an owner first.",
    )


def _other_owners_exist(member: Member) -> ColumnElement[bool]:
    """True while someone else holds the owner role, evaluated inside the writing statement.

    On SQLite the statement runs under the database's single write lock, so the count and
    the write are one atomic step; on PostgreSQL the organization's row lock makes it so.
    """
    others = aliased(Membership)
    return (
        select(func.count())
        .select_from(others)
        .where(
            others.organization_id == member.membership.organization_id,
            others.role == Role.OWNER.value,
            others.id != member.membership.id,
        )
        .scalar_subquery()
        > 0
    )


async def _demote_owner(session: AsyncSession, member: Member, role: Role) -> None:
    """Change an owner's role in one statement that refuses when no other owner remains."""
    await orgs.hold(session, member.membership.organization_id)
    changed = await session.execute(
        update(Membership)
        .where(
            Membership.id == member.membership.id,
            Membership.role == Role.OWNER.value,
            _other_owners_exist(member),
        )
        .values(role=role.value)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], changed).rowcount != 1:
        raise _last_owner(member, "be demoted")
    set_committed_value(member.membership, "role", role.value)


async def _delete_owner(session: AsyncSession, member: Member) -> None:
    """Delete an owner's membership in one statement that refuses when no other owner remains."""
    await orgs.hold(session, member.membership.organization_id)
    deleted = await session.execute(
        delete(Membership)
        .where(Membership.id == member.membership.id, _other_owners_exist(member))
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], deleted).rowcount != 1:
        raise _last_owner(member, "leave the organization")
    session.expunge(member.membership)


async def list_members(
    session: AsyncSession, organization_id: str, *, limit: int, cursor: str | None
) -> tuple[list[Member], bool, str | None]:
    query = select(Membership).where(Membership.organization_id == organization_id)
    rows, has_more, next_cursor = await paginate(
        session,
        query,
        created_at=Membership.created_at,
        id_column=Membership.id,
        limit=limit,
        cursor=cursor,
    )
    user_ids = [m.user_id for m in rows]
    found = (await session.scalars(select(User).where(User.id.in_(user_ids)))).all()
    by_id = {u.id: u for u in found}
    return [Member(by_id[m.user_id], m) for m in rows], has_more, next_cursor


async def get_member(session: AsyncSession, organization_id: str, user_id: str) -> Member:
    """A user of another organization answers exactly like one that does not exist."""
    membership = await users.membership(session, organization_id, user_id)
    user = await session.get(User, user_id) if membership is not None else None
    if membership is None or user is None:
        raise NotFound("team member", param="usr_id")
    return Member(user, membership)


async def invite(
    session: AsyncSession,
    org: Organization,
    *,
    email: str,
    role: Role,
    actor: Actor,
    acting_role: Role,
) -> tuple[Invitation, str]:
    """Returns the invitation and its accept token, which is stored only as a SHA-256 hash.

    Inviting the same address again replaces its pending invitation: the older link stops
    working.
    """
    _require_manager(acting_role)
    if role is Role.OWNER:
        _require_owner(acting_role, "invite an owner")
    email = users.normalize_email(email)
    existing = await users.find_by_email(session, email)
    if existing is not None and await users.membership(session, org.id, existing.id):
        raise Conflict(
            "already_member", f"{email} is already a member of {org.name}.", param="email"
        )
    await session.execute(
        delete(Invitation).where(
            Invitation.organization_id == org.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
        )
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = clock.now()
    invitation = Invitation(
        organization_id=org.id,
        email=email,
        role=role.value,
        token_hash=hash_token(token),
        invited_by=actor.id,
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    session.add(invitation)
    await session.flush()
    await record(
        session,
        organization_id=org.id,
        action="member.invited",
        actor=actor,
        target_type="invitation",
        target_id=invitation.id,
        data={"email": email, "role": role.value},
    )
    return invitation, token


async def list_invitations(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: InvitationStatus | None = None,
) -> tuple[list[Invitation], bool, str | None]:
    query = select(Invitation).where(Invitation.organization_id == organization_id)
    now = clock.now()
    if status is InvitationStatus.ACCEPTED:
        query = query.where(Invitation.accepted_at.is_not(None))
    elif status is InvitationStatus.PENDING:
        query = query.where(Invitation.accepted_at.is_(None), Invitation.expires_at > now)
    elif status is InvitationStatus.EXPIRED:
        query = query.where(Invitation.accepted_at.is_(None), Invitation.expires_at <= now)
    return await paginate(
        session,
        query,
        created_at=Invitation.created_at,
        id_column=Invitation.id,
        limit=limit,
        cursor=cursor,
    )


async def get_invitation(
    session: AsyncSession, organization_id: str, invitation_id: str
) -> Invitation:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.organization_id != organization_id:
        raise NotFound("invitation", param="invitation_id")
    return invitation


async def cancel_invitation(
    session: AsyncSession, invitation: Invitation, *, actor: Actor, acting_role: Role
) -> None:
    """Deletes a pending invitation so its link stops working; accepted ones stay as history."""
    _require_manager(acting_role)
    if invitation.accepted_at is not None:
        raise Conflict(
            "invitation_accepted",
            f"This invitation was accepted at {rfc3339(invitation.accepted_at)}; remove the "
            "member instead.",
        )
    await session.delete(invitation)
    await session.flush()
    await record(
        session,
        organization_id=invitation.organization_id,
        action="member.invitation_cancelled",
        actor=actor,
        target_type="invitation",
        target_id=invitation.id,
        data={"email": invitation.email, "role": invitation.role},
    )


async def change_role(
    session: AsyncSession, member: Member, role: Role, *, actor: Actor, acting_role: Role
) -> Member:
    _require_manager(acting_role)
    previous = member.role
    if previous is role:
        return member
    if role is Role.OWNER:
        _require_owner(acting_role, "make someone an owner")
    if previous is Role.OWNER:
        _require_owner(acting_role, "change an owner's role")
        await _demote_owner(session, member, role)
    else:
        member.membership.role = role.value
        await session.flush()
    await record(
        session,
        organization_id=member.membership.organization_id,
        action="member.role_changed",
        actor=actor,
        target_type="user",
        target_id=member.user.id,
        data={"email": member.user.email, "from": previous.value, "to": role.value},
    )
    return member


async def remove_member(
    session: AsyncSession, member: Member, *, actor: Actor, acting_role: Role
) -> None:
    """Removes the membership (the user account stays: it may belong to other organizations)."""
    _require_manager(acting_role)
    if member.role is Role.OWNER:
        _require_owner(acting_role, "remove an owner")
        await _delete_owner(session, member)
    else:
        await session.delete(member.membership)
        await session.flush()
    await record(
        session,
        organization_id=member.membership.organization_id,
        action="member.removed",
        actor=actor,
        target_type="user",
        target_id=member.user.id,
        data={"email": member.user.email, "role": member.role.value},
    )
    await users.emit_member_event(session, "member.removed", member.user, member.membership)


async def find_invitation(session: AsyncSession, token: str) -> Invitation:
    """The invitation behind an accept link, whatever its state (for the dashboard's page)."""
    invitation = (
        await session.scalars(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    ).first()
    if invitation is None:
        raise APIError(
            "invitation_not_found",
            "This invitation link is not valid. Check that the whole link was copied, or ask "
            "an admin of the organization for a new invitation.",
            status_code=404,
            type="not_found",
        )
    return invitation


def _refuse_unless_pending(invitation: Invitation, now: datetime) -> None:
    state = invitation_status(invitation, now)
    if state is InvitationStatus.ACCEPTED:
        raise Conflict(
            "invitation_used",
            "This invitation was already accepted. Log in with your email and password.",
        )
    if state is InvitationStatus.EXPIRED:
        if invitation.failed_attempts >= MAX_FAILED_ATTEMPTS:
            raise APIError(
                "invitation_voided",
                "This invitation was used unsuccessfully too many times and no longer works. "
                "Ask an admin of the organization to invite you again.",
                status_code=410,
            )
        raise APIError(
            "invitation_expired",
            f"This invitation expired at {rfc3339(invitation.expires_at)}. Ask an admin of the "
            "organization to invite you again.",
            status_code=410,
        )


async def count_failed_attempt(session: AsyncSession, invitation: Invitation) -> None:
    """One atomic UPDATE: concurrent failures all count, and the one that reaches the limit
    voids the link by ending its validity now (it then reads as expired)."""
    now = clock.now()
    await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(
            failed_attempts=Invitation.failed_attempts + 1,
            expires_at=case(
                (Invitation.failed_attempts + 1 >= MAX_FAILED_ATTEMPTS, now),
                else_=Invitation.expires_at,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(invitation)


async def create_invited_account(
    session: AsyncSession, token: str, password: str, name: str = ""
) -> None:
    """Create the account an invitation is for, without signing in or joining.

    The answer is the same whether or not the address already has an account, so the page
    tells the inviter nothing: the password is checked against the policy and hashed either
    way, and an existing account is left untouched (the submission counts as a failed
    attempt). Either way the invitee then signs in through the normal login, with its
    limiter, and accepts while signed in (:func:`accept_as`).
    """
    invitation = await find_invitation(session, token)
    _refuse_unless_pending(invitation, clock.now())
    users.check_password(password, email=invitation.email)
    password_hash = await hash_password_async(password)
    if await users.find_by_email(session, invitation.email) is not None:
        await count_failed_attempt(session, invitation)
        return
    user = User(email=invitation.email, name=name.strip()[:100], password_hash=password_hash)
    session.add(user)
    await session.flush()


async def accept_as(
    session: AsyncSession, token: str, user_id: str, *, ip: str | None = None
) -> Membership:
    """Join the invitation's organization as the signed-in user, who must own its address.

    Signing in is the proof: the token alone (which the inviter also holds) never stands for
    a password. A different account counts as a failed attempt.
    """
    invitation = await find_invitation(session, token)
    now = clock.now()
    _refuse_unless_pending(invitation, now)
    user = await session.get(User, user_id)
    if user is None or user.email != invitation.email:
        await count_failed_attempt(session, invitation)
        raise APIError(
            "invitation_wrong_account",
            f"This invitation is for {invitation.email}. Sign out, then sign in with that "
            "email to accept it.",
            status_code=403,
            type="insufficient_permissions",
        )
    org = await session.get(Organization, invitation.organization_id)
    if org is None:
        raise NotFound("organization")
    claimed = await session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "invitation_used",
            "This invitation was already accepted. Log in with your email and password.",
        )
    await session.refresh(invitation)
    membership = await users.membership(session, org.id, user.id)
    if membership is None:
        membership = await users.add_member(session, org, user, Role(invitation.role))
    await record(
        session,
        organization_id=org.id,
        action="member.joined",
        actor=Actor("user", user.id, ip),
        target_type="user",
        target_id=user.id,
        data={"email": user.email, "role": membership.role, "invitation_id": invitation.id},
    )
    return membership


async def password_reset_link(
    session: AsyncSession, member: Member, *, actor: Actor, acting_role: Role
) -> tuple[PasswordReset, str]:
    """A one-time password reset link for a member, made by an owner or admin.

    Whoever makes the link can use it, so it may only open what its maker already manages:
    an owner's account only for another owner, and never an account that also belongs to
    another organization (the server's operator resets those with the CLI).
    """
    _require_manager(acting_role)
    if member.role is Role.OWNER:
        _require_owner(acting_role, "make a password reset link for an owner")
    organization_id = member.membership.organization_id
    if await users.count_other_memberships(session, member.user.id, organization_id):
        raise Conflict(
            "member_in_other_organizations",
            f"{member.user.email} also belongs to another organization, which a link made "
            "here must not open. They can ask the server's operator to run `botyard users "
            f"reset-password {member.user.email}`.",
        )
    reset, token = await users.create_password_reset(session, member.user, created_by=actor.id)
    await record(
        session,
        organization_id=organization_id,
        action="member.password_reset_link",
        actor=actor,
        target_type="user",
        target_id=member.user.id,
        data={"email": member.user.email, "expires_at": rfc3339(reset.expires_at)},
    )
    return reset, token
