"""An invitation's page: sign in (or create the account) first, then join while signed in.

An invitation never signs anyone in. Its token is known to whoever invited, so it cannot
stand for the invitee's password: an existing user signs in through the normal login form
(with its attempt limit) and then accepts; a new user chooses a password, then does the
same. The page reads the same whether or not the address already has an account.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard.deps import (
    CurrentMember,
    DashboardContext,
    LoginCsrf,
    MaybeMember,
    PageError,
    client_ip,
)
from botyard.dashboard.pages.auth import HOME, login_csrf_token, with_login_csrf
from botyard.dashboard.web import DashboardRoute, redirect, render
from botyard.organizations.models import Organization
from botyard.team import service as team
from botyard.team.models import Invitation
from botyard.users.models import UserSession
from botyard.users.passwords import MIN_PASSWORD_LENGTH

router = APIRouter(route_class=DashboardRoute)

ACCOUNT_READY = (
    "Now sign in as {email} to join. If you already had a Botyard account, use its existing "
    "password; otherwise use the one you just chose."
)


async def load_invitation(session: DBSession, token: str) -> tuple[Invitation, Organization]:
    try:
        invitation = await team.find_invitation(session, token)
    except APIError as exc:
        raise PageError(404, "Invitation not found", exc.message) from None
    org = await session.get(Organization, invitation.organization_id)
    if org is None:
        raise PageError(404, "Invitation not found", "This organization no longer exists.")
    return invitation, org


async def invitation_page(
    request: Request,
    session: DBSession,
    token: str,
    context: DashboardContext | None,
    *,
    name: str = "",
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    invitation, org = await load_invitation(session, token)
    csrf_token = login_csrf_token(request)
    # Signed in, the page's forms carry the session's token; otherwise the login form's.
    login_token = {"csrf_token": csrf_token} if context is None else {}
    response = render(
        request,
        "dashboard/invitation.html",
        context,
        status_code=status_code,
        **login_token,
        invitation=invitation,
        organization=org,
        state=team.invitation_status(invitation).value,
        voided=invitation.failed_attempts >= team.MAX_FAILED_ATTEMPTS,
        name=name,
        notice=notice,
        error=error,
        min_password=MIN_PASSWORD_LENGTH,
        action=request.url.path,
    )
    # The token is in this page's URL: never send it on as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response if context is not None else with_login_csrf(request, response, csrf_token)


@router.get("/invitations/{token}")
async def show_invitation(
    request: Request, session: DBSession, context: MaybeMember, token: str
) -> Response:
    return await invitation_page(request, session, token, context)


@router.post("/invitations/{token}")
async def create_account(
    request: Request,
    session: DBSession,
    _csrf: LoginCsrf,
    token: str,
    password: Annotated[str, Form()] = "",
    password_confirm: Annotated[str | None, Form()] = None,
    name: Annotated[str, Form()] = "",
) -> Response:
    """A new user's password; the answer is the same when the address has an account."""
    if password_confirm is not None and password != password_confirm:
        return await invitation_page(
            request,
            session,
            token,
            None,
            name=name,
            error="The two passwords differ.",
            status_code=400,
        )
    try:
        await team.create_invited_account(session, token, password, name)
    except APIError as exc:
        return await invitation_page(
            request, session, token, None, name=name, error=exc.message, status_code=exc.status_code
        )
    invitation, _ = await load_invitation(session, token)
    return await invitation_page(
        request, session, token, None, notice=ACCOUNT_READY.format(email=invitation.email)
    )


@router.post("/invitations/{token}/accept")
async def accept_invitation(
    request: Request, session: DBSession, context: CurrentMember, token: str
) -> Response:
    """Join as the signed-in user, and switch this session into the organization joined."""
    try:
        membership = await team.accept_as(session, token, context.user_id, ip=client_ip(request))
    except APIError as exc:
        return await invitation_page(
            request, session, token, context, error=exc.message, status_code=exc.status_code
        )
    current = await session.get(UserSession, context.session_id)
    assert current is not None
    current.organization_id = membership.organization_id
    await session.flush()
    return redirect(HOME)
