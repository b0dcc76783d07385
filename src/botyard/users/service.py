"""Users and memberships: who belongs to which organization, with which role."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.core import clock
from botyard.core.errors import APIError, Conflict
from botyard.organizations.models import Organization
from botyard.users.models import Membership, PasswordReset, Role, User, UserSession
from botyard.users.passwords import hash_password_async, password_problem
from botyard.webhooks import events


def parse_role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise APIError(
            "invalid_role", f"Unknown role {value!r}; choose one of {choices}.", param="role"
        ) from None


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        raise APIError("invalid_email", f"{email!r} is not an email address.", param="email")
    return email


def check_password(password: str, *, email: str | None = None) -> None:
    """The password policy: length, not a common password, not containing the email."""
    problem = password_problem(password, email)
    if problem is not None:
        raise APIError("weak_password", problem, param="password")


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    query = select(User).where(User.email == email.strip().lower())
    return (await session.scalars(query)).first()


async def create_user(
    session: AsyncSession, email: str, password: str | None, name: str = ""
) -> User:
    email = normalize_email(email)
    if await find_by_email(session, email) is not None:
        raise Conflict("email_taken", f"A user with email {email} already exists.", param="email")
    if password is not None:
        check_password(password, email=email)
    password_hash = await hash_password_async(password) if password else None
    user = User(email=email, name=name, password_hash=password_hash)
    session.add(user)
    await session.flush()
    return user


async def add_member(
    session: AsyncSession, org: Organization, user: User, role: Role
) -> Membership:
    if await membership(session, org.id, user.id) is not None:
        raise Conflict("already_member", f"{user.email} is already a member of {org.name}.")
    member = Membership(organization_id=org.id, user_id=user.id, role=role.value)
    session.add(member)
    await session.flush()
    await emit_member_event(session, "member.added", user, member)
    return member


async def emit_member_event(
    session: AsyncSession, event_type: str, user: User, member: Membership
) -> None:
    """The member as /v1/team/members shows it, to the organization's webhooks."""
    from botyard.team.schemas import TeamMemberOut  # the team domain builds on this one
    from botyard.team.service import Member

    data = TeamMemberOut.of(Member(user, member))
    await events.emit(session, member.organization_id, event_type, data)


async def membership(session: AsyncSession, org_id: str, user_id: str) -> Membership | None:
    query = select(Membership).where(
        Membership.organization_id == org_id, Membership.user_id == user_id
    )
    return (await session.scalars(query)).first()


async def count_owners(session: AsyncSession, org_id: str) -> int:
    query = select(func.count()).where(
        Membership.organization_id == org_id, Membership.role == Role.OWNER.value
    )
    return int(await session.scalar(query) or 0)


PASSWORD_RESET_TTL = timedelta(hours=1)
RESET_PATH = "/dashboard/reset-password/"


def reset_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{RESET_PATH}{token}"


def _reset_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_password_reset(
    session: AsyncSession, user: User, *, created_by: str | None
) -> tuple[PasswordReset, str]:
    """A one-time link's token, valid for an hour and stored only as its SHA-256.

    Making a new link voids the user's earlier unused ones, so only the latest works.
    """
    await session.execute(
        delete(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    )
    token = secrets.token_urlsafe(32)
    now = clock.now()
    reset = PasswordReset(
        token_hash=_reset_hash(token),
        user_id=user.id,
        created_by=created_by,
        created_at=now,
        expires_at=now + PASSWORD_RESET_TTL,
    )
    session.add(reset)
    await session.flush()
    return reset, token


def _invalid_reset() -> APIError:
    return APIError(
        "password_reset_invalid",
        "This password reset link is not valid: it was already used, has expired (links work "
        "for one hour) or was replaced by a newer one. Ask for a new link.",
        status_code=404,
        type="not_found",
    )


async def find_password_reset(session: AsyncSession, token: str) -> tuple[PasswordReset, User]:
    """The live reset behind a link, with its user; a used or expired one is not found."""
    reset = (
        await session.scalars(
            select(PasswordReset).where(PasswordReset.token_hash == _reset_hash(token))
        )
    ).first()
    user = await session.get(User, reset.user_id) if reset is not None else None
    if reset is None or user is None or reset.used_at is not None:
        raise _invalid_reset()
    if reset.expires_at <= clock.now():
        raise _invalid_reset()
    return reset, user


async def reset_password(session: AsyncSession, token: str, password: str) -> User:
    """Set the new password through a link, once, and end every session of that user."""
    reset, user = await find_password_reset(session, token)
    check_password(password, email=user.email)
    password_hash = await hash_password_async(password)
    now = clock.now()
    claimed = await session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.id == reset.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _invalid_reset()
    user.password_hash = password_hash
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await session.flush()
    return user


async def count_other_memberships(session: AsyncSession, user_id: str, org_id: str) -> int:
    query = select(func.count()).where(
        Membership.user_id == user_id, Membership.organization_id != org_id
    )
    return int(await session.scalar(query) or 0)
