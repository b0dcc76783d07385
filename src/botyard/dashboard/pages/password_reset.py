"""Setting a new password through a one-time reset link.

The link comes from ``botyard users reset-password`` or from an owner or admin in Settings >
Team. It works once, for an hour; the new password follows the policy, and every session of
that user ends, so whoever was signed in as them is signed out. It signs nobody in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard.deps import LoginCsrf, PageError
from botyard.dashboard.pages.auth import login_csrf_token, with_login_csrf
from botyard.dashboard.web import DashboardRoute, render
from botyard.users import service as users
from botyard.users.passwords import MIN_PASSWORD_LENGTH

router = APIRouter(route_class=DashboardRoute)


async def reset_page(
    request: Request,
    session: DBSession,
    token: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        _, user = await users.find_password_reset(session, token)
    except APIError as exc:
        raise PageError(404, "Link not valid", exc.message) from None
    csrf_token = login_csrf_token(request)
    response = render(
        request,
        "dashboard/reset_password.html",
        status_code=status_code,
        csrf_token=csrf_token,
        email=user.email,
        error=error,
        min_password=MIN_PASSWORD_LENGTH,
        action=request.url.path,
    )
    # The token is in this page's URL: never send it on as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return with_login_csrf(request, response, csrf_token)


@router.get("/reset-password/{token}")
async def show_reset(request: Request, session: DBSession, token: str) -> Response:
    return await reset_page(request, session, token)


@router.post("/reset-password/{token}")
async def set_new_password(
    request: Request,
    session: DBSession,
    _csrf: LoginCsrf,
    token: str,
    password: Annotated[str, Form()] = "",
    password_confirm: Annotated[str, Form()] = "",
) -> Response:
    if password != password_confirm:
        return await reset_page(
            request, session, token, error="The two passwords differ.", status_code=400
        )
    try:
        user = await users.reset_password(session, token, password)
    except APIError as exc:
        if exc.code == "password_reset_invalid":
            raise PageError(404, "Link not valid", exc.message) from None
        return await reset_page(
            request, session, token, error=exc.message, status_code=exc.status_code
        )
    response = render(
        request,
        "dashboard/reset_password_done.html",
        email=user.email,
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
