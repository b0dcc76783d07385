"""Rendering for the dashboard: templates, time formatting, error pages and safe headers.

Every dashboard route uses :class:`DashboardRoute`, which turns the dashboard's own
exceptions (login required, not allowed, bad input) into HTML pages instead of the API's
JSON envelope, rolls back whatever the failed request had flushed, and adds headers that
keep pages out of caches and frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.conversations.schemas import MESSAGE_TEXT_MAX
from botyard.core import clock
from botyard.core.assets import file_version
from botyard.core.csp import STRICT, html_headers
from botyard.core.errors import APIError
from botyard.core.timefmt import rfc3339
from botyard.dashboard.deps import DashboardContext, LoginRequired, PageError, login_url

logger = logging.getLogger("botyard.dashboard")

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_FILES = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}

# Dashboard pages run only the dashboard's own script and stylesheet: the strict policy as is.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    **html_headers(STRICT),
}


def static_version(name: str) -> str:
    return file_version(STATIC_DIR / name)


def static_url(name: str) -> str:
    return f"/dashboard/static/{name}?v={static_version(name)}"


def format_time(value: datetime | None, empty: str = "—") -> Markup:
    """A readable UTC time inside a machine-readable <time> element."""
    if value is None:
        return escape(empty)
    text = value.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(rfc3339(value), text)


def format_day(value: datetime | None, empty: str = "—") -> Markup:
    """Just the date, with the exact time on hover."""
    if value is None:
        return escape(empty)
    return Markup('<time datetime="{0}" title="{1}">{2}</time>').format(
        rfc3339(value), value.strftime("%Y-%m-%d %H:%M UTC"), value.strftime("%Y-%m-%d")
    )


def time_ago(value: datetime | None, empty: str = "never") -> str:
    if value is None:
        return empty
    seconds = (clock.now() - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in under a minute" if future else "just now"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
templates.env.globals["static_url"] = static_url
templates.env.globals["MESSAGE_TEXT_MAX"] = MESSAGE_TEXT_MAX
templates.env.filters["when"] = format_time
templates.env.filters["day"] = format_day
templates.env.filters["ago"] = time_ago
templates.env.filters["percent"] = percent
templates.env.filters["rfc3339"] = lambda v: rfc3339(v) if v else ""


def render(
    request: Request,
    template: str,
    context: DashboardContext | None = None,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a page; the signed-in context and its CSRF token are always available."""
    values.setdefault("active", "")
    return templates.TemplateResponse(
        request,
        template,
        {
            "ctx": context,
            "csrf_token": context.csrf_token if context else values.pop("csrf_token", ""),
            "status_code": status_code,
            **values,
        },
        status_code=status_code,
    )


def redirect(url: str) -> RedirectResponse:
    """After a successful POST, send the browser to a page it can reload safely."""
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    context = getattr(request.state, "dashboard_context", None)
    return render(
        request,
        "dashboard/error.html",
        context,
        status_code=status_code,
        title=title,
        message=message,
    )


async def _rollback(request: Request) -> None:
    db: AsyncSession | None = getattr(request.state, "dashboard_db", None)
    if db is not None:
        await db.rollback()


class DashboardRoute(APIRoute):
    """Dashboard failures become HTML pages, and every page gets the safe headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def dashboard_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = redirect(login_url(exc.next_url))
            except PageError as exc:
                await _rollback(request)
                response = error_page(request, exc.status_code, exc.title, exc.message)
                response.headers.update(exc.headers)
            except APIError as exc:
                await _rollback(request)
                response = error_page(request, exc.status_code, "Something is wrong", exc.message)
            except RequestValidationError as exc:
                await _rollback(request)
                fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
                response = error_page(
                    request,
                    400,
                    "Incomplete form",
                    "Some fields are missing or invalid: " + ", ".join(fields) + ".",
                )
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return dashboard_handler
