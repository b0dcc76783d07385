"""Signing in and out, switching organization, and the dashboard's static files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse

from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard import sessions
from botyard.dashboard.deps import (
    CurrentMember,
    LoginCsrf,
    MaybeMember,
    PageError,
    client_ip,
    forbidden,
)
from botyard.dashboard.web import STATIC_DIR, STATIC_FILES, DashboardRoute, redirect, render
from botyard.team import service as team
from botyard.users.models import User, UserSession

router = APIRouter(route_class=DashboardRoute)

HOME = "/dashboard/bots"
LOGIN_CSRF_MAX_AGE = 2 * 3600
INVITATION_PATH = "/dashboard/invitations/"


def safe_next(value: str | None) -> str:
    """Only a dashboard path, so the login form cannot be used as an open redirect."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return value
    return HOME


def login_csrf_token(request: Request) -> str:
    return request.cookies.get(sessions.LOGIN_CSRF_COOKIE) or sessions.new_token()


def with_login_csrf(request: Request, response: Response, token: str) -> Response:
    sessions.set_cookie(request, response, sessions.LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_MAX_AGE)
    return response


def login_page(
    request: Request,
    *,
    next_url: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    accepting: bool = False,
) -> Response:
    token = login_csrf_token(request)
    response = render(
        request,
        "dashboard/login.html",
        status_code=status_code,
        csrf_token=token,
        next_url=next_url,
        email=email,
        error=error,
        accepting=accepting,
    )
    return with_login_csrf(request, response, token)


@router.get("/login")
async def show_login(request: Request, context: MaybeMember, next: str | None = None) -> Response:
    if context is not None:
        return redirect(safe_next(next))
    return login_page(request, next_url=safe_next(next))


@router.post("/login")
async def log_in(
    request: Request,
    session: DBSession,
    _csrf: LoginCsrf,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
    accept_invitation: Annotated[str, Form()] = "",
) -> Response:
    email = email.strip().lower()
    next_url = safe_next(next)
    invitation_token = invitation_in(next_url) if accept_invitation else None
    if not email or not password:
        return login_page(
            request,
            next_url=next_url,
            email=email,
            error="Enter your email and password.",
            status_code=400,
            accepting=invitation_token is not None,
        )
    attempt = await sessions.count_login_attempt(
        request.app.state.rate_limits.limiter, client_ip(request), email
    )
    if not attempt.allowed:
        minutes = max(1, (attempt.retry_after + 59) // 60)
        refused = login_page(
            request,
            next_url=next_url,
            email=email,
            error=(
                "Too many sign-in attempts for this account from your address, or from your "
                f"address in all. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
            ),
            status_code=429,
            accepting=invitation_token is not None,
        )
        refused.headers["Retry-After"] = str(attempt.retry_after)
        return refused
    user = await sessions.check_credentials(session, email, password)
    if user is None:
        return login_page(
            request,
            next_url=next_url,
            email=email,
            error="That email and password do not match an account.",
            status_code=401,
            accepting=invitation_token is not None,
        )
    await sessions.forget_failed_attempts(
        request.app.state.rate_limits.limiter, client_ip(request), email
    )
    if invitation_token is not None:
        joined = await join_on_sign_in(request, session, user, invitation_token)
        if joined is not None:
            return joined
    choices = await sessions.organizations_of(session, user.id)
    if not choices:
        return login_page(
            request,
            next_url=next_url,
            email=email,
            error="Your account is not a member of any organization yet. Ask for an invitation.",
            status_code=403,
        )
    return await start_session(request, session, user.id, choices[0].id, next_url)


def invitation_in(next_url: str) -> str | None:
    """The invitation token when the page to return to is an invitation's page."""
    token = next_url.removeprefix(INVITATION_PATH)
    if token == next_url or not token or "/" in token or "?" in token:
        return None
    return token


async def join_on_sign_in(
    request: Request, session: DBSession, user: User, token: str
) -> Response | None:
    """Signed in from an invitation's page: accept it now and open that organization.

    The password was just checked by the normal login, limiter included, so this is the
    invitation accepted while signed in. None when it cannot be (wrong account, used,
    expired): the user lands on the invitation's page, which says why.
    """
    try:
        membership = await team.accept_as(session, token, user.id, ip=client_ip(request))
    except APIError:
        return None
    return await start_session(request, session, user.id, membership.organization_id, HOME)


async def start_session(
    request: Request, session: DBSession, user_id: str, organization_id: str, next_url: str
) -> Response:
    """Open a session and hand its cookie to the browser."""
    user = await session.get(User, user_id)
    assert user is not None
    token = await sessions.open_session(
        session,
        user,
        organization_id,
        client_ip(request),
        request.app.state.settings.session_ttl_hours,
    )
    response = redirect(next_url)
    max_age = request.app.state.settings.session_ttl_hours * 3600
    sessions.set_cookie(request, response, sessions.SESSION_COOKIE, token, max_age)
    sessions.clear_cookie(request, response, sessions.LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def log_out(request: Request, session: DBSession, context: CurrentMember) -> Response:
    await sessions.close_session(session, request.cookies.get(sessions.SESSION_COOKIE))
    response = redirect("/dashboard/login")
    sessions.clear_cookie(request, response, sessions.SESSION_COOKIE)
    return response


@router.post("/switch-organization")
async def switch_organization(
    request: Request,
    session: DBSession,
    context: CurrentMember,
    organization_id: Annotated[str, Form()],
) -> Response:
    if organization_id not in {choice.id for choice in context.organizations}:
        raise forbidden("You are not a member of that organization.")
    current = await session.get(UserSession, context.session_id)
    assert current is not None
    current.organization_id = organization_id
    await session.flush()
    return redirect(HOME)


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        raise PageError(404, "Not found", "No such file.")
    return FileResponse(
        STATIC_DIR / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
