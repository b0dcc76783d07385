"""Recording audit events (the caller's transaction carries them with the change they describe)
and reading them back for the audit log."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.audit.models import AuditEvent
from botyard.core.pagination import paginate


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a dashboard user, an API key, or the operator's CLI."""

    type: str
    id: str | None = None
    ip: str | None = None


CLI_ACTOR = Actor("cli")


async def record(
    session: AsyncSession,
    *,
    organization_id: str,
    action: str,
    actor: Actor,
    target_type: str | None = None,
    target_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        organization_id=organization_id,
        action=action,
        actor_type=actor.type,
        actor_id=actor.id,
        target_type=target_type,
        target_id=target_id,
        ip=actor.ip,
        data=data or {},
    )
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True, slots=True)
class AuditFilters:
    action: str | None = None
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _aware(value: datetime) -> datetime:
    """A time without an offset is read as UTC, the only zone the API speaks."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def list_events(
    session: AsyncSession,
    organization_id: str,
    filters: AuditFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[AuditEvent], bool, str | None]:
    """Newest first. ``since`` is inclusive and ``until`` exclusive, so ranges tile."""
    query = select(AuditEvent).where(AuditEvent.organization_id == organization_id)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.actor_id:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    if filters.since is not None:
        query = query.where(AuditEvent.created_at >= _aware(filters.since))
    if filters.until is not None:
        query = query.where(AuditEvent.created_at < _aware(filters.until))
    return await paginate(
        session,
        query,
        created_at=AuditEvent.created_at,
        id_column=AuditEvent.id,
        limit=limit,
        cursor=cursor,
    )
