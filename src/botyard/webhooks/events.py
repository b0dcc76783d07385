"""The outbox: services call :func:`emit` in the transaction of the change an event reports.

The event row and one delivery row per subscribed endpoint are written with the change, so a
rolled-back change sends nothing and a crash after the commit loses nothing: the delivery
worker finds the rows whenever it next looks. Organizations without a subscription write
nothing at all; the endpoints are read once per transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.core import clock
from botyard.core.database import after_commit
from botyard.core.ids import new_id
from botyard.core.timefmt import rfc3339
from botyard.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENT_TYPES = (
    "conversation.created",
    "message.created",
    "conversation.closed",
    "message.unanswered",
    "api_key.created",
    "api_key.rotated",
    "api_key.revoked",
    "api_key.leaked",
    "member.added",
    "member.removed",
    "webhook.test",
)
ALL_EVENTS = "*"
_SESSION_KEY = "webhook_subscriptions"

_wakers: list[Callable[[], None]] = []
"""Called after a commit that wrote deliveries, so this process's worker sends them at once."""


def add_waker(waker: Callable[[], None]) -> None:
    _wakers.append(waker)


def remove_waker(waker: Callable[[], None]) -> None:
    if waker in _wakers:
        _wakers.remove(waker)


def _wake() -> None:
    for waker in list(_wakers):
        waker()


def after_commit_wake(session: AsyncSession) -> None:
    """Wake this process's worker once the session commits (deliveries became due)."""
    after_commit(session, _wake)


def subscribed(events: list[str], event_type: str) -> bool:
    return ALL_EVENTS in events or event_type in events


def forget_subscriptions(session: AsyncSession) -> None:
    """Drop the transaction's cached subscriptions (an endpoint was added or changed)."""
    session.sync_session.info.pop(_SESSION_KEY, None)


async def _subscriptions(
    session: AsyncSession, organization_id: str
) -> list[tuple[str, list[str]]]:
    cache: dict[str, list[tuple[str, list[str]]]] = session.sync_session.info.setdefault(
        _SESSION_KEY, {}
    )
    found = cache.get(organization_id)
    if found is None:
        rows = await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events).where(
                WebhookEndpoint.organization_id == organization_id,
                WebhookEndpoint.enabled.is_(True),
            )
        )
        found = cache[organization_id] = [(row.id, list(row.events)) for row in rows]
    return found


def event_body(event_id: str, event_type: str, organization_id: str, data: Any) -> str:
    """The JSON every delivery of the event sends (and signs) byte for byte."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": rfc3339(clock.now()),
            "organization_id": organization_id,
            "data": data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


async def emit(
    session: AsyncSession,
    organization_id: str,
    event_type: str,
    data: BaseModel | dict[str, Any],
    *,
    endpoint_ids: list[str] | None = None,
) -> WebhookEvent | None:
    """Queue ``event_type`` for every endpoint subscribed to it (or only ``endpoint_ids``).

    ``data`` is the object as the API shows it, never a secret. Returns the event, or None
    when nobody listens."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if endpoint_ids is None:
        targets = [
            endpoint_id
            for endpoint_id, events in await _subscriptions(session, organization_id)
            if subscribed(events, event_type)
        ]
    else:
        targets = endpoint_ids
    if not targets:
        return None
    now = clock.now()
    event_id = new_id("evt")
    event = WebhookEvent(
        id=event_id,
        organization_id=organization_id,
        type=event_type,
        body=event_body(event_id, event_type, organization_id, data),
        created_at=now,
    )
    # No flush of its own: the rows go to the database with the change's next flush (at the
    # latest its commit), in one batch with every other event of the transaction.
    session.add(event)
    session.add_all(
        WebhookDelivery(
            organization_id=organization_id,
            endpoint_id=endpoint_id,
            event=event,
            event_type=event_type,
            status="pending",
            next_attempt_at=now,
            attempt_count=0,
            created_at=now,
            updated_at=now,
        )
        for endpoint_id in targets
    )
    after_commit_wake(session)
    return event
