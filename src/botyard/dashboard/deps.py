"""Who is looking at a dashboard page, as typed FastAPI dependencies.

``CurrentMember`` resolves the session cookie to a :class:`DashboardContext` and, on every
POST, checks the form's CSRF token first, so no form handler can forget it. ``CurrentManager``
also requires the owner or admin role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.audit.service import Actor
from botyard.core.database import DBSession
from botyard.dashboard import limits, sessions
from botyard.organizations.models import Organization, Plan
from botyard.users.models import Role, User, UserSession


class LoginRequired(Exception):
    """Sends the browser to the login page, then back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageError(Exception):
    """Rendered as an error page with this status, a title, a plain explanation and any
    extra response headers (``Retry-After`` on a 429)."""

    def __init__(
        self, status_code: int, title: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message
        self.headers = headers or {}


def forbidden(message: str) -> PageError:
    return PageError(403, "Not allowed", message)


def not_found(what: str) -> PageError:
    return PageError(404, "Not found", f"There is no such {what} in this organization.")


CSRF_REFUSED = (
    "This form was refused because its security token is missing or out of date. "
    "Go back, reload the page and submit it again."
)


@dataclass(frozen=True, slots=True)
class DashboardContext:
    """Plain values about the signed-in user, safe to use after a rollback."""

    session_id: str
    csrf_token: str
    user_id: str
    user_email: str
    user_name: str
    organization_id: str
    organization_name: str
    plan: Plan
    rate_limit: int | None
    role: Role
    organizations: tuple[sessions.OrgChoice, ...]
    ip: str

    @property
    def manages(self) -> bool:
        """Owners and admins manage API keys, the team, logs and audit."""
        return self.role.manages_keys

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    @property
    def has_api_access(self) -> bool:
        return self.plan.has_api_access

    @property
    def actor(self) -> Actor:
        return Actor("user", self.user_id, self.ip)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def login_redirect_target(request: Request) -> str:
    path = request.url.path
    if request.url.query and request.method == "GET":
        path += "?" + request.url.query
    return path if request.method == "GET" else "/dashboard"


def login_url(next_url: str) -> str:
    return "/dashboard/login?next=" + quote(next_url, safe="/")


async def form_field(request: Request, name: str) -> str | None:
    """A form value read once; Starlette caches the parsed form for the endpoint."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    value = (await request.form()).get(name)
    return value if isinstance(value, str) else None


async def check_csrf(request: Request, expected: str | None) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    given = await form_field(request, sessions.CSRF_FIELD)
    if not sessions.tokens_match(given, expected):
        raise forbidden(CSRF_REFUSED)


async def optional_context(request: Request, session: DBSession) -> DashboardContext | None:
    """The signed-in user's context, or None; remembered on the request for error pages."""
    request.state.dashboard_db = session
    idle = timedelta(minutes=request.app.state.settings.session_idle_minutes)
    found = await sessions.find_session(session, request.cookies.get(sessions.SESSION_COOKIE), idle)
    if found is None:
        return None
    context = await _load_context(session, found, client_ip(request))
    request.state.dashboard_context = context
    return context


async def _load_context(
    session: AsyncSession, found: UserSession, ip: str
) -> DashboardContext | None:
    user = await session.get(User, found.user_id)
    if user is None:
        return None
    choices = await sessions.organizations_of(session, user.id)
    current = next((c for c in choices if c.id == found.organization_id), None)
    if current is None:
        # Removed from the organization this session opened: fall back to another, or out.
        if not choices:
            await session.delete(found)
            await session.flush()
            return None
        current = choices[0]
        found.organization_id = current.id
        await session.flush()
    org = await session.get(Organization, current.id)
    assert org is not None
    return DashboardContext(
        session_id=found.id,
        csrf_token=found.csrf_token,
        user_id=user.id,
        user_email=user.email,
        user_name=user.name,
        organization_id=org.id,
        organization_name=org.name,
        plan=Plan(org.plan),
        rate_limit=org.rate_limit,
        role=Role(current.role),
        organizations=tuple(choices),
        ip=ip,
    )


async def require_member(
    request: Request,
    context: Annotated[DashboardContext | None, Depends(optional_context)],
) -> DashboardContext:
    """Any member of the organization; POSTs must carry the session's CSRF token."""
    if context is None:
        if request.method != "GET":
            # A form posted without a live session has no token to be checked against.
            raise forbidden(
                "This form was refused because you are not signed in (or your session ended). "
                "Sign in again, then submit it once more."
            )
        raise LoginRequired(login_redirect_target(request))
    await check_csrf(request, context.csrf_token)
    return context


async def require_manager(
    context: Annotated[DashboardContext, Depends(require_member)],
) -> DashboardContext:
    if not context.manages:
        raise forbidden(
            f"Only Admins and Owners of {context.organization_name} can do this. "
            f"Your role is {context.role.value.capitalize()}."
        )
    return context


async def require_write_budget(
    request: Request, context: Annotated[DashboardContext, Depends(require_member)]
) -> DashboardContext:
    """A member making a change, within the user's and the organization's hourly write limits.

    Checked after the CSRF token, so a forged form cannot spend anyone's budget."""
    settings = request.app.state.settings
    decision = await limits.count_write(
        request.app.state.rate_limits.limiter,
        context.user_id,
        context.organization_id,
        settings.dashboard_write_limit,
        settings.dashboard_org_write_limit,
    )
    if not decision.allowed:
        minutes = max(1, (decision.retry_after + 59) // 60)
        raise PageError(
            429,
            "Too many changes",
            f"You or others in {context.organization_name} made {decision.limit} changes to bots "
            f"and knowledge in the last hour, the most allowed. Try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}; to load many entries, use the API.",
            headers={"Retry-After": str(decision.retry_after)},
        )
    return context


async def check_login_csrf(request: Request) -> None:
    """Forms shown before a session exists use a double-submit cookie instead."""
    if request.method == "POST":
        expected = request.cookies.get(sessions.LOGIN_CSRF_COOKIE)
        given = await form_field(request, sessions.CSRF_FIELD)
        if not sessions.tokens_match(given, expected):
            raise forbidden(CSRF_REFUSED)


MaybeMember = Annotated[DashboardContext | None, Depends(optional_context)]
CurrentMember = Annotated[DashboardContext, Depends(require_member)]
CurrentManager = Annotated[DashboardContext, Depends(require_manager)]
CurrentWriter = Annotated[DashboardContext, Depends(require_write_budget)]
LoginCsrf = Annotated[None, Depends(check_login_csrf)]
