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
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
"""How stale a session's last-seen time may be: fewer writes, an idle timeout a minute late."""

LOGIN_ATTEMPTS = 5
"""Quick failures of one account from one address before it must wait (see PAIR_LIMITS)."""


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
            last_seen_at=now,
            expires_at=now + timedelta(hours=ttl_hours),
        )
    )
    await session.flush()
    return token


async def find_session(
    session: AsyncSession, token: str | None, idle_timeout: timedelta
) -> UserSession | None:
    """The live session for a cookie value; one past its lifetime or left idle for
    ``idle_timeout`` is deleted on sight. Use is recorded at most once a minute."""
    if not token:
        return None
    found = (
        await session.scalars(
            select(UserSession).where(UserSession.token_hash == hash_token(token))
        )
    ).first()
    if found is None:
        return None
    now = clock.now()
    last_seen = found.last_seen_at or found.created_at
    if found.expires_at <= now or last_seen + idle_timeout <= now:
        await session.delete(found)
        await session.flush()
        return None
    if now - last_seen >= LAST_SEEN_RESOLUTION:
        found.last_seen_at = now
        await session.flush()
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


@dataclass(frozen=True, slots=True)
class LoginLimit:
    attempts: int
    window: int
    """Seconds, from the first attempt counted in the window."""


PAIR_LIMITS = (
    LoginLimit(20, 60 * 60),
    LoginLimit(10, 15 * 60),
    LoginLimit(LOGIN_ATTEMPTS, 60),
)
"""Failed sign-ins of one account from one address. The tiers are a backoff: 5 quick failures
wait out the minute, 10 wait out a quarter of an hour, 20 an hour. Longest window first, so
a refusal reports the wait that really frees the pair."""

ADDRESS_LIMIT = LoginLimit(100, 15 * 60)
"""Failed sign-ins from one address, whatever the account: high enough that a whole office
behind one NAT address never trips it by mistyping, low enough to stop spraying."""


def _pair_key(ip: str, email: str, limit: LoginLimit) -> str:
    """Hashed, so a shared limiter store (Redis) holds no email address."""
    pair = hashlib.sha256(f"{email.strip().lower()}\0{ip}".encode()).hexdigest()[:32]
    return f"login:pair:{limit.window}:{pair}"


def _address_key(ip: str) -> str:
    return f"login:ip:{ip}"


def login_limits(ip: str, email: str) -> list[tuple[Bucket, LoginLimit]]:
    pairs = [(Bucket(_pair_key(ip, email, limit), limit.attempts), limit) for limit in PAIR_LIMITS]
    return [*pairs, (Bucket(_address_key(ip), ADDRESS_LIMIT.attempts), ADDRESS_LIMIT)]


async def count_login_attempt(limiter: Limiter, ip: str, email: str) -> AttemptDecision:
    """Count the attempt before the password is checked, so concurrent guesses cannot all slip
    under the limit; a success gives its count back (:func:`forget_failed_attempts`).

    Limits are per (account, address) pair, so nobody can lock an account for its owner by
    failing from elsewhere, plus a higher one per address. The limiter is shared by every
    process through Redis when configured. A refused attempt is charged to no window.
    """
    now = clock.timestamp()
    charged: list[tuple[Bucket, LoginLimit]] = []
    for bucket, limit in login_limits(ip, email):
        decision = await limiter.hit([bucket], limit.window, now)
        if not decision.allowed:
            for taken, taken_limit in charged:
                await limiter.refund([taken], taken_limit.window, now)
            return AttemptDecision(False, decision.retry_after)
        charged.append((bucket, limit))
    return AttemptDecision(True, 0)


async def forget_failed_attempts(limiter: Limiter, ip: str, email: str) -> None:
    """A successful sign-in clears its pair and does not count against its address."""
    for bucket, limit in login_limits(ip, email):
        if limit is ADDRESS_LIMIT:
            await limiter.refund([bucket], limit.window, clock.timestamp())
        else:
            await limiter.reset(bucket.key)
