"""Recording audit events; the caller's transaction carries them with the change they describe."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from botyard.audit.models import AuditEvent


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
