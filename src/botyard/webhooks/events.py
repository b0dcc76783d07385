"""The outbox: services call :func:`emit` in the transaction of the change an event reports.

The event row and one delivery row per subscribed endpoint are written with the change, so a
rolled-back change sends nothing and a crash after the commit loses nothing: the delivery
worker finds the rows whenever it next looks. Organizations without a subscription write
nothing at all; the endpoints are read once per transaction, and not even once when the
service's own lookup already asked whether there are any (:func:`any_endpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Exists, bindparam, exists, insert, select
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from botyard.core import clock
from botyard.core.database import Transaction, Writer, after_commit, read_rows
from botyard.core.ids import new_id
from botyard.core.rows import table_of
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
_OUTBOX_KEY = "webhook_outbox"

_INSERT_EVENTS = insert(table_of(WebhookEvent))
_INSERT_DELIVERIES = insert(table_of(WebhookDelivery))
_ENDPOINTS = select(WebhookEndpoint.id, WebhookEndpoint.events).where(
    WebhookEndpoint.organization_id == bindparam("organization_id"),
    WebhookEndpoint.enabled.is_(True),
)

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


def after_commit_wake(transaction: Transaction) -> None:
    """Wake this process's worker once the transaction commits (deliveries became due)."""
    after_commit(transaction, _wake)


def _info(transaction: Transaction) -> dict[str, Any]:
    return transaction.info if isinstance(transaction, Writer) else transaction.sync_session.info


def subscribed(events: list[str], event_type: str) -> bool:
    return ALL_EVENTS in events or event_type in events


def forget_subscriptions(transaction: Transaction) -> None:
    """Drop the transaction's cached subscriptions (an endpoint was added or changed)."""
    _info(transaction).pop(_SESSION_KEY, None)


def any_endpoint(organization_id: ColumnElement[str]) -> Exists:
    """Whether the organization has an enabled endpoint, as a column for a service's lookup.

    A hot write (a chat message) selects this beside the rows it reads anyway and passes the
    answer to :func:`note_endpoints`, so that its events cost no query of their own when
    nobody listens, the common case. Read with the lookup rather than at the first event, it
    sees the endpoints as they were a few statements earlier in the same transaction."""
    endpoints = table_of(WebhookEndpoint)
    return exists().where(
        endpoints.c.organization_id == organization_id, endpoints.c.enabled.is_(True)
    )


def note_endpoints(transaction: Transaction, organization_id: str, any_enabled: bool) -> None:
    """Record what :func:`any_endpoint` found: with none, this transaction's events for the
    organization are dropped without a query (an endpoint added later in the transaction
    calls :func:`forget_subscriptions`, which forgets this too)."""
    if not any_enabled:
        cache: dict[str, list[tuple[str, list[str]]]] = _info(transaction).setdefault(
            _SESSION_KEY, {}
        )
        cache.setdefault(organization_id, [])


async def _subscriptions(
    transaction: Transaction, organization_id: str
) -> list[tuple[str, list[str]]]:
    cache: dict[str, list[tuple[str, list[str]]]] = _info(transaction).setdefault(_SESSION_KEY, {})
    found = cache.get(organization_id)
    if found is None:
        rows = await read_rows(transaction, _ENDPOINTS, {"organization_id": organization_id})
        found = cache[organization_id] = [(row.id, list(row.events)) for row in rows]
    return found


def event_body(event_id: str, event_type: str, organization_id: str, data: Any) -> str:
    """The JSON every delivery of the event sends (and signs) byte for byte.

    A model is serialised by pydantic-core straight to JSON and spliced in, which is several
    times cheaper than dumping it to a dict and encoding that again (this runs in the
    request of the change)."""
    envelope = json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": rfc3339(clock.now()),
            "organization_id": organization_id,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    if isinstance(data, BaseModel):
        encoded = data.model_dump_json()
    else:
        encoded = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f'{envelope[:-1]},"data":{encoded}}}'


@dataclass(slots=True)
class _Outbox:
    """The rows a transaction's events will add, written in two statements at its commit."""

    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)


async def emit(
    transaction: Transaction,
    organization_id: str,
    event_type: str,
    data: BaseModel | dict[str, Any],
    *,
    endpoint_ids: list[str] | None = None,
) -> str | None:
    """Queue ``event_type`` for every endpoint subscribed to it (or only ``endpoint_ids``).

    ``data`` is the object as the API shows it, never a secret. Returns the event's id, or
    None when nobody listens. The rows are written when the transaction commits (or at
    :func:`write_pending`), all events of the transaction in one batch."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if endpoint_ids is None:
        targets = [
            endpoint_id
            for endpoint_id, events in await _subscriptions(transaction, organization_id)
            if subscribed(events, event_type)
        ]
    else:
        targets = endpoint_ids
    if not targets:
        return None
    now = clock.now()
    event_id = new_id("evt")
    info = _info(transaction)
    outbox: _Outbox | None = info.get(_OUTBOX_KEY)
    if outbox is None:
        outbox = info[_OUTBOX_KEY] = _Outbox()
        if isinstance(transaction, Writer):  # a session writes it in its before_commit event
            transaction.before_commit(lambda: _add_outbox(transaction))
    outbox.events.append(
        {
            "id": event_id,
            "organization_id": organization_id,
            "type": event_type,
            "body": event_body(event_id, event_type, organization_id, data),
            "created_at": now,
        }
    )
    outbox.deliveries.extend(
        {
            "id": new_id("dlv"),
            "organization_id": organization_id,
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "event_type": event_type,
            "status": "pending",
            "next_attempt_at": now,
            "attempt_count": 0,
            "locked_until": None,
            "created_at": now,
            "updated_at": now,
        }
        for endpoint_id in targets
    )
    after_commit_wake(transaction)
    return event_id


def _add_outbox(writer: Writer) -> None:
    outbox: _Outbox | None = writer.info.pop(_OUTBOX_KEY, None)
    if outbox is not None and outbox.events:
        writer.add(_INSERT_EVENTS, outbox.events)
        writer.add(_INSERT_DELIVERIES, outbox.deliveries)


def _write_outbox(sync_session: Session) -> None:
    outbox: _Outbox | None = sync_session.info.pop(_OUTBOX_KEY, None)
    if outbox is not None and outbox.events:
        # Core statements on the tables: the ORM's bulk path would add its own bookkeeping.
        connection = sync_session.connection()
        connection.execute(_INSERT_EVENTS, outbox.events)
        connection.execute(_INSERT_DELIVERIES, outbox.deliveries)


async def write_pending(session: AsyncSession) -> None:
    """Write the queued events now, for a caller that reads them back in the transaction."""
    await session.run_sync(_write_outbox)


@sa_event.listens_for(Session, "before_commit")
def _write_before_commit(sync_session: Session) -> None:
    _write_outbox(sync_session)


@sa_event.listens_for(Session, "after_rollback")
def _drop_on_rollback(sync_session: Session) -> None:
    sync_session.info.pop(_OUTBOX_KEY, None)
