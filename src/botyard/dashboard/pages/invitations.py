"""Accepting an invitation: see the organization and role, set a name and password, and sign in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard.deps import LoginCsrf, PageError, client_ip
from botyard.dashboard.pages.auth import HOME, login_csrf_token, start_session, with_login_csrf
from botyard.dashboard.web import DashboardRoute, render
from botyard.organizations.models import Organization
from botyard.team import service as team
from botyard.team.models import Invitation
from botyard.users import service as users
from botyard.users.passwords import MIN_PASSWORD_LENGTH

router = APIRouter(route_class=DashboardRoute)


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
    *,
    name: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    invitation, org = await load_invitation(session, token)
    existing = await users.find_by_email(session, invitation.email)
    csrf_token = login_csrf_token(request)
    response = render(
        request,
        "dashboard/invitation.html",
        status_code=status_code,
        csrf_token=csrf_token,
        invitation=invitation,
        organization=org,
        state=team.invitation_status(invitation).value,
        has_account=existing is not None and existing.password_hash is not None,
        name=name,
        error=error,
        min_password=MIN_PASSWORD_LENGTH,
        action=request.url.path,
    )
    # The token is in this page's URL: never send it on as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return with_login_csrf(request, response, csrf_token)


@router.get("/invitations/{token}")
async def show_invitation(request: Request, session: DBSession, token: str) -> Response:
    return await invitation_page(request, session, token)


@router.post("/invitations/{token}")
async def accept_invitation(
    request: Request,
    session: DBSession,
    _csrf: LoginCsrf,
    token: str,
    password: Annotated[str, Form()] = "",
    password_confirm: Annotated[str | None, Form()] = None,
    name: Annotated[str, Form()] = "",
) -> Response:
    if password_confirm is not None and password != password_confirm:
        return await invitation_page(
            request, session, token, name=name, error="The two passwords differ.", status_code=400
        )
    try:
        user, membership = await team.accept_invitation(
            session, token, password, name, ip=client_ip(request)
        )
    except APIError as exc:
        return await invitation_page(
            request, session, token, name=name, error=exc.message, status_code=exc.status_code
        )
    return await start_session(request, session, user.id, membership.organization_id, HOME)
