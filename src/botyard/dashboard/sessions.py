"""Dashboard logins: server-side sessions, CSRF tokens and the sign-in attempt limit.

The browser holds a random token in an HttpOnly cookie; the database holds only its SHA-256,
so a leaked table cannot be replayed as a login. Each session carries its own CSRF token,
which every dashboard form echoes in a hidden field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.core import clock
from botyard.organizations.models import Organization
from botyard.ratelimit.limiter import Bucket, Limiter
from botyard.users import service as users
from botyard.users.models import Membership, User, UserSession
from botyard.users.passwords import verify_password_async

SESSION_COOKIE = "botyard_session"
LOGIN_CSRF_COOKIE = "botyard_login_csrf"
COOKIE_PATH = "/dashboard"
CSRF_FIELD = "csrf_token"

LOGIN_ATTEMPTS = 10
LOGIN_WINDOW_SECONDS = 15 * 60


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison, so a guessed token leaks nothing through timing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def cookie_is_secure(request: Request) -> bool:
    """Secure over HTTPS (uvicorn honours X-Forwarded-Proto from trusted proxies) or when forced."""
    return request.url.scheme == "https" or request.app.state.settings.secure_cookies is True


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="lax", secure=cookie_is_secure(request)
    )


async def open_session(
    session: AsyncSession, user: User, organization_id: str, ip: str | None, ttl_hours: int
) -> str:
    """Store a new login and return the cookie value, which exists nowhere else."""
    now = clock.now()
    await session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now)
    )
    token = new_token()
    session.add(
        UserSession(
            token_hash=hash_token(token),
            user_id=user.id,
            organization_id=organization_id,
            csrf_token=secrets.token_hex(32),
            ip=ip,
            created_at=now,
            expires_at=now + timedelta(hours=ttl_hours),
        )
    )
    await session.flush()
    return token


async def find_session(session: AsyncSession, token: str | None) -> UserSession | None:
    """The live session for a cookie value; an expired one is deleted on sight."""
    if not token:
        return None
    found = (
        await session.scalars(
            select(UserSession).where(UserSession.token_hash == hash_token(token))
        )
    ).first()
    if found is None:
        return None
    if found.expires_at <= clock.now():
        await session.delete(found)
        await session.flush()
        return None
    return found


async def close_session(session: AsyncSession, token: str | None) -> None:
    if token:
        await session.execute(
            delete(UserSession).where(UserSession.token_hash == hash_token(token))
        )


@dataclass(frozen=True, slots=True)
class OrgChoice:
    id: str
    name: str
    role: str


async def organizations_of(session: AsyncSession, user_id: str) -> list[OrgChoice]:
    """The user's organizations, oldest membership first (the one a login opens)."""
    rows = await session.execute(
        select(Organization.id, Organization.name, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Organization.name)
    )
    return [OrgChoice(id=row[0], name=row[1], role=row[2]) for row in rows]


async def check_credentials(session: AsyncSession, email: str, password: str) -> User | None:
    """The user when the password matches; hashing runs even for unknown emails."""
    user = await users.find_by_email(session, email)
    if not await verify_password_async(user.password_hash if user else None, password):
        return None
    return user


@dataclass(frozen=True, slots=True)
class AttemptDecision:
    allowed: bool
    retry_after: int


def login_buckets(ip: str, email: str) -> list[Bucket]:
    return [
        Bucket(f"login:ip:{ip}", LOGIN_ATTEMPTS),
        Bucket(f"login:email:{email.strip().lower()}", LOGIN_ATTEMPTS),
    ]


async def count_login_attempt(limiter: Limiter, ip: str, email: str) -> AttemptDecision:
    """Each attempt counts against the address and the account, so neither can be brute-forced."""
    decision = await limiter.hit(login_buckets(ip, email), LOGIN_WINDOW_SECONDS, clock.timestamp())
    return AttemptDecision(decision.allowed, decision.retry_after)


async def forget_failed_attempts(limiter: Limiter, email: str) -> None:
    """A successful login clears the account's counter so its owner is not locked out later."""
    await limiter.reset(f"login:email:{email.strip().lower()}")
