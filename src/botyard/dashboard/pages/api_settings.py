"""Settings > API, as the API authentication guide describes it.

Generate a key (name, scopes, optional expiry) and see it once; list keys with their hint,
scopes, creator, last use, expiry, status and warnings; revoke after a confirmation; rotate
with a grace period; see the plan's API access and the organization's rate limit with its
current usage. A new key exists only in the response that shows it: never in the session,
the database or a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey
from botyard.core import clock
from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard import lookups
from botyard.dashboard.deps import (
    CurrentManager,
    CurrentMember,
    DashboardContext,
    PageError,
    forbidden,
    not_found,
)
from botyard.dashboard.web import DashboardRoute, redirect, render
from botyard.organizations.models import Organization, Plan
from botyard.ratelimit.enforce import RateLimitPolicy, organization_bucket
from botyard.ratelimit.limiter import Decision

router = APIRouter(route_class=DashboardRoute)

PAGE_URL = "/dashboard/settings/api"
KEY_PAGE_SIZE = 50

SCOPE_CHOICES = (
    ("read", "Read", "View bots, conversations, and analytics"),
    ("write", "Write", "Create and modify bots and settings"),
    ("admin", "Admin", "Full access including team management"),
)
EXPIRY_CHOICES = (
    ("never", "Never"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("180", "In 180 days"),
    ("365", "In 365 days"),
)
GRACE_CHOICES = (
    ("0", "Revoke the old key now", timedelta(0)),
    ("1h", "1 hour", timedelta(hours=1)),
    ("24h", "24 hours", timedelta(hours=24)),
    ("7d", "7 days", timedelta(days=7)),
)
DEFAULT_GRACE = "24h"
WARNING_LABELS = {
    "unused": "Unused",
    "rotation_due": "Rotation due",
    "expires_soon": "Expires soon",
    "new_ip": "New IP",
    "revoked_key_in_use": "Revoked key in use",
    "spike": "Traffic spike",
    "exposed_in_url": "Sent in a URL",
    "leaked": "Leaked: revoked automatically",
    "exposed_in_browser": "Sent from a browser",
}
MANAGERS_ONLY = "Only Admins and Owners manage API keys."


def plan_needed_message(plan: Plan) -> str:
    return (
        f"API access is not included in the {plan.label} plan. The Professional plan is "
        "required for API access (Enterprise includes it too)."
    )


@dataclass(frozen=True, slots=True)
class KeyRow:
    key: ApiKey
    status: str
    created_by: str
    warnings: list[dict[str, Any]]
    replaces_hint: str | None = None
    """The hint of the key this one replaced by rotation, so a pair reads as one."""

    @property
    def active(self) -> bool:
        return self.status == keys.KeyStatus.ACTIVE.value


@dataclass(slots=True)
class GenerateForm:
    name: str = ""
    scopes: list[str] = field(default_factory=lambda: ["read"])
    expires: str = "never"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    limit: int
    used: int
    remaining: int
    resets_in_seconds: int
    window_seconds: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 0


async def current_usage(request: Request, context: DashboardContext) -> Usage:
    """Peek at the organization's hourly budget without spending any of it."""
    policy: RateLimitPolicy = request.app.state.rate_limits
    limit = context.rate_limit or policy.default_limit
    now = clock.timestamp()
    decision: Decision = await policy.limiter.peek(
        [organization_bucket(context.organization_id, limit)], policy.window, now
    )
    resets_in = decision.resets_in(now) if decision.used else 0
    return Usage(
        limit=decision.limit,
        used=decision.used,
        remaining=decision.remaining,
        resets_in_seconds=resets_in,
        window_seconds=decision.window,
    )


async def _creators(
    session: AsyncSession, organization_id: str, api_keys: list[ApiKey]
) -> dict[str, str]:
    """Who created each key, as a person would recognise them."""
    creators = [k.created_by for k in api_keys]
    emails = await lookups.user_emails(session, creators)
    labels = await lookups.key_labels(session, organization_id, creators)
    result: dict[str, str] = {}
    for k in api_keys:
        creator = k.created_by
        if creator is None:
            result[k.id] = "command line"
        elif creator in emails:
            result[k.id] = emails[creator]
        elif creator in labels:
            result[k.id] = f"API key {labels[creator]}"
        else:
            result[k.id] = "an API key" if creator.startswith("key_") else "a former user"
    return result


async def _warnings(session: AsyncSession, api_keys: list[ApiKey]) -> dict[str, list[Any]]:
    try:
        from botyard.api_keys.warnings import warnings_for
    except ImportError:
        return {}
    return await warnings_for(session, api_keys, clock.now())


async def _predecessor_hints(session: AsyncSession, api_keys: list[ApiKey]) -> dict[str, str]:
    """Hints of the keys that the listed ones replaced, read in one query."""
    wanted = {k.rotated_from for k in api_keys if k.rotated_from}
    if not wanted:
        return {}
    found = await session.execute(select(ApiKey.id, ApiKey.hint).where(ApiKey.id.in_(wanted)))
    return {key_id: hint for key_id, hint in found}


async def key_rows(
    session: AsyncSession, organization_id: str, cursor: str | None
) -> tuple[list[KeyRow], str | None]:
    api_keys, has_more, next_cursor = await keys.list_keys(
        session, organization_id, limit=KEY_PAGE_SIZE, cursor=cursor
    )
    creators = await _creators(session, organization_id, api_keys)
    warnings = await _warnings(session, api_keys)
    hints = await _predecessor_hints(session, api_keys)
    now = clock.now()
    rows = [
        KeyRow(
            key=k,
            status=keys.status_of(k, now).value,
            created_by=creators[k.id],
            warnings=list(warnings.get(k.id, [])),
            replaces_hint=hints.get(k.rotated_from) if k.rotated_from else None,
        )
        for k in api_keys
    ]
    return rows, next_cursor if has_more else None


async def settings_page(
    request: Request,
    session: AsyncSession,
    context: DashboardContext,
    *,
    form: GenerateForm | None = None,
    new_key: dict[str, Any] | None = None,
    notice: str | None = None,
    cursor: str | None = None,
    status_code: int = 200,
) -> Response:
    rows, next_cursor = await key_rows(session, context.organization_id, cursor)
    return render(
        request,
        "dashboard/settings_api.html",
        context,
        status_code=status_code,
        active="api",
        rows=rows,
        next_cursor=next_cursor,
        form=form or GenerateForm(),
        new_key=new_key,
        notice=notice,
        usage=await current_usage(request, context),
        scope_choices=SCOPE_CHOICES,
        expiry_choices=EXPIRY_CHOICES,
        warning_labels=WARNING_LABELS,
        plan_needed=None if context.has_api_access else plan_needed_message(context.plan),
        plans=list(Plan),
        managers_only=MANAGERS_ONLY,
        public_url=request.app.state.settings.public_url.rstrip("/"),
        can_generate=context.manages and context.has_api_access,
    )


def require_key_managers_with_api(context: DashboardContext) -> None:
    """Generating or rotating needs both the role and a plan with API access."""
    if not context.has_api_access:
        raise forbidden(plan_needed_message(context.plan))


async def organization_of(session: AsyncSession, context: DashboardContext) -> Organization:
    org = await session.get(Organization, context.organization_id)
    if org is None:
        raise PageError(404, "Not found", "This organization no longer exists.")
    return org


async def key_of(session: AsyncSession, context: DashboardContext, key_id: str) -> ApiKey:
    try:
        return await keys.get_key(session, context.organization_id, key_id)
    except APIError:
        raise not_found("API key") from None


def parse_expiry(value: str) -> datetime | None:
    if value == "never":
        return None
    if value not in {choice for choice, _ in EXPIRY_CHOICES}:
        raise APIError("invalid_expiry", "Choose when the key expires from the list.")
    return clock.now() + timedelta(days=int(value))


@router.get("/settings/api")
async def show_api_settings(
    request: Request,
    session: DBSession,
    context: CurrentMember,
    revoked: str | None = None,
    updated: str | None = None,
    cursor: str | None = None,
) -> Response:
    notice = None
    if updated:
        key = await session.get(ApiKey, updated)
        if key is not None and key.organization_id == context.organization_id:
            notice = f"Saved “{key.name}” ({key.hint}): the change applies within a second."
    if revoked:
        key = await session.get(ApiKey, revoked)
        if key is not None and key.organization_id == context.organization_id:
            notice = (
                f"Revoked “{key.name}” ({key.hint}). Requests with it now get 401 api_key_revoked."
            )
    return await settings_page(request, session, context, notice=notice, cursor=cursor)


@router.post("/settings/api/keys")
async def generate_key(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    name: Annotated[str, Form()] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires: Annotated[str, Form()] = "never",
) -> Response:
    require_key_managers_with_api(context)
    scopes = scopes or []
    form = GenerateForm(name=name, scopes=scopes, expires=expires)
    try:
        org = await organization_of(session, context)
        key, plaintext = await keys.create_key(
            session,
            org,
            name=name,
            scopes=scopes,
            actor=context.actor,
            expires_at=parse_expiry(expires),
        )
    except APIError as exc:
        form.error = exc.message
        return await settings_page(request, session, context, form=form, status_code=400)
    return await settings_page(
        request,
        session,
        context,
        new_key={"key": key, "plaintext": plaintext, "rotated_from": None},
    )


@router.get("/settings/api/keys/{key_id}/revoke")
async def confirm_revoke(
    request: Request, session: DBSession, context: CurrentManager, key_id: str
) -> Response:
    key = await key_of(session, context, key_id)
    pending_use = request.app.state.request_log.last_pending_use(key.id)
    last_used = max(filter(None, (key.last_used_at, pending_use)), default=None)
    return render(
        request,
        "dashboard/key_revoke.html",
        context,
        active="api",
        key=key,
        last_used=last_used,
        status=keys.status_of(key).value,
    )


@router.post("/settings/api/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, session: DBSession, context: CurrentManager, key_id: str
) -> Response:
    key = await key_of(session, context, key_id)
    await keys.revoke(session, key, context.actor)
    return redirect(f"{PAGE_URL}?revoked={key.id}")


@router.get("/settings/api/keys/{key_id}/rotate")
async def confirm_rotate(
    request: Request, session: DBSession, context: CurrentManager, key_id: str
) -> Response:
    require_key_managers_with_api(context)
    key = await key_of(session, context, key_id)
    return rotate_page(request, context, key)


def rotate_page(
    request: Request,
    context: DashboardContext,
    key: ApiKey,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "dashboard/key_rotate.html",
        context,
        status_code=status_code,
        active="api",
        key=key,
        status=keys.status_of(key).value,
        grace_choices=GRACE_CHOICES,
        default_grace=DEFAULT_GRACE,
        error=error,
    )


@router.post("/settings/api/keys/{key_id}/rotate")
async def rotate_key(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    key_id: str,
    grace: Annotated[str, Form()] = DEFAULT_GRACE,
) -> Response:
    require_key_managers_with_api(context)
    key = await key_of(session, context, key_id)
    graces = {choice: delta for choice, _, delta in GRACE_CHOICES}
    if grace not in graces:
        return rotate_page(
            request, context, key, "Choose a grace period from the list.", status_code=400
        )
    try:
        org = await organization_of(session, context)
        new_key, plaintext = await keys.rotate(session, org, key, context.actor, graces[grace])
    except APIError as exc:
        return rotate_page(request, context, key, exc.message, status_code=409)
    return await settings_page(
        request,
        session,
        context,
        new_key={"key": new_key, "plaintext": plaintext, "rotated_from": key},
    )


@dataclass(slots=True)
class EditForm:
    name: str
    allowed_ips: str
    rate_limit: str

    @classmethod
    def of(cls, key: ApiKey) -> EditForm:
        return cls(
            name=key.name,
            allowed_ips="\n".join(key.allowed_ips or []),
            rate_limit=str(key.rate_limit) if key.rate_limit else "",
        )

    def changes(self) -> dict[str, Any]:
        """The form as the service's changes: an empty list or limit clears it."""
        entries = [e for e in self.allowed_ips.replace(",", "\n").split() if e]
        limit = self.rate_limit.strip()
        if limit and not limit.isdigit():
            raise APIError("invalid_rate_limit", "The rate limit must be a whole number.")
        return {
            "name": self.name,
            "allowed_ips": entries or None,
            "rate_limit": int(limit) if limit else None,
        }


def edit_page(
    request: Request,
    context: DashboardContext,
    key: ApiKey,
    form: EditForm,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "dashboard/key_edit.html",
        context,
        status_code=status_code,
        active="api",
        key=key,
        status=keys.status_of(key).value,
        form=form,
        error=error,
    )


@router.get("/settings/api/keys/{key_id}/edit")
async def confirm_edit(
    request: Request, session: DBSession, context: CurrentManager, key_id: str
) -> Response:
    key = await key_of(session, context, key_id)
    return edit_page(request, context, key, EditForm.of(key))


@router.post("/settings/api/keys/{key_id}/edit")
async def edit_key(
    request: Request,
    session: DBSession,
    context: CurrentManager,
    key_id: str,
    name: Annotated[str, Form()] = "",
    allowed_ips: Annotated[str, Form()] = "",
    rate_limit: Annotated[str, Form()] = "",
) -> Response:
    key = await key_of(session, context, key_id)
    form = EditForm(name=name, allowed_ips=allowed_ips, rate_limit=rate_limit)
    try:
        await keys.update_key(session, key, form.changes(), context.actor)
    except APIError as exc:
        return edit_page(request, context, key, form, exc.message, status_code=400)
    return redirect(f"{PAGE_URL}?updated={key.id}")
