"""Audit: who created, rotated or revoked keys, changed the team or the plan, when and from where."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from botyard.audit import service as audit
from botyard.audit.models import AuditEvent
from botyard.core.database import DBSession
from botyard.dashboard import lookups
from botyard.dashboard.deps import CurrentMember, forbidden
from botyard.dashboard.web import DashboardRoute, render

router = APIRouter(route_class=DashboardRoute)

PAGE_SIZE = 50
ACTIONS = {
    "api_key.created": "API key created",
    "api_key.rotated": "API key rotated",
    "api_key.revoked": "API key revoked",
    "member.invited": "Member invited",
    "member.invitation_cancelled": "Invitation cancelled",
    "member.joined": "Member joined",
    "member.role_changed": "Role changed",
    "member.removed": "Member removed",
    "plan.changed": "Plan changed",
    "rate_limit.changed": "Rate limit changed",
}


def describe_actor(event: AuditEvent, emails: dict[str, str], keys: dict[str, str]) -> str:
    if event.actor_type == "cli":
        return "command line"
    if event.actor_id in emails:
        return emails[event.actor_id]
    if event.actor_id in keys:
        return f"API key {keys[event.actor_id]}"
    return event.actor_id or event.actor_type


def describe_target(event: AuditEvent, emails: dict[str, str], keys: dict[str, str]) -> str:
    target = event.target_id or ""
    if target in keys:
        return keys[target]
    if target in emails:
        return emails[target]
    data: dict[str, Any] = event.data or {}
    if "email" in data:
        return str(data["email"])
    return target


def describe_details(event: AuditEvent) -> str:
    data: dict[str, Any] = event.data or {}
    if "from" in data and "to" in data:
        return f"{data['from']} → {data['to']}"
    parts = []
    if "scopes" in data:
        parts.append("scopes " + ", ".join(data["scopes"]))
    if "role" in data:
        parts.append(f"role {data['role']}")
    if "grace_seconds" in data:
        parts.append(f"grace {int(data['grace_seconds']) // 3600} h")
    return "; ".join(parts)


@router.get("/audit")
async def show_audit(
    request: Request,
    session: DBSession,
    context: CurrentMember,
    action: str | None = None,
    cursor: str | None = None,
) -> Response:
    if not context.manages:
        raise forbidden(
            "The audit log is visible to Admins and Owners only. "
            f"Your role in {context.organization_name} is {context.role.value.capitalize()}."
        )
    action = action if action in ACTIONS else None
    events, has_more, next_cursor = await audit.list_events(
        session,
        context.organization_id,
        audit.AuditFilters(action=action),
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    ids = [e.actor_id for e in events] + [e.target_id for e in events]
    emails = await lookups.user_emails(session, ids)
    key_names = await lookups.key_labels(session, context.organization_id, ids)
    rows = [
        {
            "event": e,
            "label": ACTIONS.get(e.action, e.action),
            "actor": describe_actor(e, emails, key_names),
            "target": describe_target(e, emails, key_names),
            "details": describe_details(e),
        }
        for e in events
    ]
    next_url = None
    if has_more and next_cursor:
        query = {"action": action, "cursor": next_cursor}
        next_url = "/dashboard/audit?" + urlencode({k: v for k, v in query.items() if v})
    return render(
        request,
        "dashboard/audit.html",
        context,
        active="audit",
        rows=rows,
        actions=ACTIONS,
        action=action,
        next_url=next_url,
        paged=bool(cursor),
    )
