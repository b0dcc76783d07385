"""The server-rendered dashboard under /dashboard, assembled from one module per area."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from botyard.dashboard.deps import PageError
from botyard.dashboard.pages import (
    analytics,
    api_settings,
    audit,
    auth,
    bots,
    conversations,
    invitations,
    logs,
    password_reset,
    team,
    webhooks,
    widget,
)
from botyard.dashboard.web import DashboardRoute, redirect

router = APIRouter(prefix="/dashboard", include_in_schema=False, route_class=DashboardRoute)


@router.get("")
async def dashboard_home() -> RedirectResponse:
    return redirect(auth.HOME)


for page in (
    auth,
    invitations,
    password_reset,
    bots,
    widget,
    conversations,
    analytics,
    logs,
    audit,
    api_settings,
    team,
    webhooks,
):
    router.include_router(page.router)


@router.get("/{unknown:path}")
async def unknown_page(unknown: str) -> RedirectResponse:
    """A mistyped dashboard address gets a page a person can read, not the API's JSON."""
    raise PageError(404, "Page not found", f"There is no dashboard page at /dashboard/{unknown}.")


async def site_root() -> RedirectResponse:
    """People who open the server's address land on the dashboard."""
    return RedirectResponse("/dashboard", status_code=307)


async def favicon() -> Response:
    """Browsers ask every site for /favicon.ico; the SVG answers, also for the API's pages."""
    return await auth.static_file("favicon.svg")


# Added as ready-made routes (outside the /dashboard prefix) so the app factory includes the
# site root and the icon with the dashboard and needs no routes of its own.
router.routes.append(
    DashboardRoute("/", site_root, methods=["GET"], include_in_schema=False, name="site_root")
)
router.routes.append(
    DashboardRoute(
        "/favicon.ico", favicon, methods=["GET"], include_in_schema=False, name="favicon"
    )
)
