"""Users and memberships: who belongs to which organization, with which role."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.core.errors import APIError, Conflict
from botyard.organizations.models import Organization
from botyard.users.models import Membership, Role, User
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
