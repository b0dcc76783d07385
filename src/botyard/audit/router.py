"""/v1/audit-log: who changed keys, members and plans, when and from where."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from botyard.api_keys.deps import AdminKey
from botyard.audit import service
from botyard.audit.schemas import AuditEventOut
from botyard.core.database import DBSession
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse, list_of
from botyard.core.params import Cursor, Limit, TimeFilter

router = APIRouter(prefix="/v1/audit-log", tags=["audit log"])


@router.get("", summary="The organization's audit log, newest first")
async def list_audit_events(
    principal: AdminKey,
    session: DBSession,
    action: Annotated[
        str | None, Query(max_length=60, description="Only this action, e.g. `api_key.revoked`")
    ] = None,
    actor_id: Annotated[
        str | None, Query(max_length=40, description="Only changes by this user or key")
    ] = None,
    target_id: Annotated[
        str | None, Query(max_length=40, description="Only changes to this key, user or invitation")
    ] = None,
    since: Annotated[
        TimeFilter | None, Query(description="RFC 3339 time; events at or after it (inclusive)")
    ] = None,
    until: Annotated[
        TimeFilter | None, Query(description="RFC 3339 time; events before it (exclusive)")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ListResponse[AuditEventOut]:
    filters = service.AuditFilters(
        action=action, actor_id=actor_id, target_id=target_id, since=since, until=until
    )
    return list_of(
        AuditEventOut,
        await service.list_events(
            session, principal.organization_id, filters, limit=limit, cursor=cursor
        ),
    )
