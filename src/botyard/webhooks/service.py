"""Webhook endpoint rules: the SSRF check, sealed secrets, rotation, tests and resends.

The plaintext signing secret leaves only as a return value of creation and rotation; at rest
it is sealed with the secret box, so a copy of the database signs nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.audit.service import Actor, record
from botyard.core import clock
from botyard.core.errors import APIError, Conflict, NotFound
from botyard.core.pagination import paginate
from botyard.core.secretbox import SecretBox
from botyard.webhooks import events, ssrf
from botyard.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from botyard.webhooks.signing import SEALING_PURPOSE, new_secret

ROTATION_GRACE = timedelta(hours=24)
MAX_ENDPOINTS = 20


async def check_url(
    url: str, *, allow_private: bool, resolver: ssrf.Resolver = ssrf.system_resolver
) -> str:
    try:
        await ssrf.vet(url, allow_private=allow_private, resolver=resolver)
    except ssrf.UnsafeURL as exc:
        raise APIError(
            "invalid_webhook_url", f"This URL cannot receive webhooks: {exc}.", param="url"
        ) from None
    return url


def secrets_in_use(box: SecretBox, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and the previous one while its grace period lasts."""
    found = [box.open(endpoint.sealed_secret, purpose=SEALING_PURPOSE)]
    if (
        endpoint.sealed_previous_secret is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        found.append(box.open(endpoint.sealed_previous_secret, purpose=SEALING_PURPOSE))
    return found


async def create_endpoint(
    session: AsyncSession,
    box: SecretBox,
    organization_id: str,
    *,
    url: str,
    events_wanted: list[str],
    description: str,
    enabled: bool,
    actor: Actor,
    allow_private: bool,
    resolver: ssrf.Resolver = ssrf.system_resolver,
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret, which is shown once."""
    await check_url(url, allow_private=allow_private, resolver=resolver)
    count = await session.scalar(
        select(func.count()).where(WebhookEndpoint.organization_id == organization_id)
    )
    if (count or 0) >= MAX_ENDPOINTS:
        raise Conflict(
            "too_many_webhook_endpoints",
            f"An organization has at most {MAX_ENDPOINTS} webhook endpoints; delete one first.",
        )
    secret = new_secret()
    now = clock.now()
    endpoint = WebhookEndpoint(
        organization_id=organization_id,
        url=url,
        description=description.strip(),
        events=events_wanted,
        enabled=enabled,
        sealed_secret=box.seal(secret, purpose=SEALING_PURPOSE),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    events.forget_subscriptions(session)
    await record(
        session,
        organization_id=organization_id,
        action="webhook.created",
        actor=actor,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        data={"url": url, "events": events_wanted},
    )
    return endpoint, secret


async def get_endpoint(
    session: AsyncSession, organization_id: str, endpoint_id: str
) -> WebhookEndpoint:
    """Another organization's endpoint answers exactly like a missing one."""
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.organization_id != organization_id:
        raise NotFound("webhook endpoint", param="webhook_id")
    return endpoint


async def list_endpoints(
    session: AsyncSession, organization_id: str, *, limit: int, cursor: str | None
) -> tuple[list[WebhookEndpoint], bool, str | None]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
    return await paginate(
        session,
        query,
        created_at=WebhookEndpoint.created_at,
        id_column=WebhookEndpoint.id,
        limit=limit,
        cursor=cursor,
    )


async def update_endpoint(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    actor: Actor,
    allow_private: bool,
    url: str | None = None,
    events_wanted: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    resolver: ssrf.Resolver = ssrf.system_resolver,
) -> WebhookEndpoint:
    changed: dict[str, object] = {}
    if url is not None and url != endpoint.url:
        endpoint.url = await check_url(url, allow_private=allow_private, resolver=resolver)
        changed["url"] = url
    if events_wanted is not None:
        endpoint.events = events_wanted
        changed["events"] = events_wanted
    if description is not None:
        endpoint.description = description.strip()
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        changed["enabled"] = enabled
        if enabled:
            endpoint.disabled_reason = None
            endpoint.failing_since = None
    endpoint.updated_at = clock.now()
    await session.flush()
    events.forget_subscriptions(session)
    if changed:
        await record(
            session,
            organization_id=endpoint.organization_id,
            action="webhook.updated",
            actor=actor,
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            data=changed,
        )
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint, actor: Actor) -> None:
    await session.delete(endpoint)
    await session.flush()
    events.forget_subscriptions(session)
    await record(
        session,
        organization_id=endpoint.organization_id,
        action="webhook.deleted",
        actor=actor,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        data={"url": endpoint.url},
    )


async def rotate_secret(
    session: AsyncSession, box: SecretBox, endpoint: WebhookEndpoint, actor: Actor
) -> str:
    """A new secret now; deliveries carry both signatures for the next 24 hours."""
    now = clock.now()
    secret = new_secret()
    endpoint.sealed_previous_secret = endpoint.sealed_secret
    endpoint.previous_secret_expires_at = now + ROTATION_GRACE
    endpoint.sealed_secret = box.seal(secret, purpose=SEALING_PURPOSE)
    endpoint.updated_at = now
    await session.flush()
    await record(
        session,
        organization_id=endpoint.organization_id,
        action="webhook.secret_rotated",
        actor=actor,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
    )
    return secret


async def send_test(session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """One ``webhook.test`` event, for this endpoint only, whatever it subscribes to."""
    from botyard.webhooks.schemas import WebhookEndpointOut

    if not endpoint.enabled:
        raise Conflict("webhook_endpoint_disabled", "This endpoint is disabled; enable it first.")
    event_id = await events.emit(
        session,
        endpoint.organization_id,
        "webhook.test",
        WebhookEndpointOut.of(endpoint),
        endpoint_ids=[endpoint.id],
    )
    if event_id is None:
        raise NotFound("webhook endpoint", param="webhook_id")
    await events.write_pending(session)
    delivery = (
        await session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id))
    ).one()
    return delivery


async def get_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDelivery:
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("delivery", param="delivery_id")
    return delivery


async def list_deliveries(
    session: AsyncSession, endpoint: WebhookEndpoint, *, limit: int, cursor: str | None
) -> tuple[list[WebhookDelivery], bool, str | None]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    return await paginate(
        session,
        query,
        created_at=WebhookDelivery.created_at,
        id_column=WebhookDelivery.id,
        limit=limit,
        cursor=cursor,
    )


async def attempts_of(
    session: AsyncSession, delivery_ids: list[str]
) -> dict[str, list[WebhookAttempt]]:
    found: dict[str, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        rows = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.at, WebhookAttempt.id)
        )
        for attempt in rows:
            found[attempt.delivery_id].append(attempt)
    return found


async def retry_delivery(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery: WebhookDelivery
) -> WebhookDelivery:
    """Send again at once, with the same ``webhook-id``; the worker picks it up now."""
    if not endpoint.enabled:
        raise Conflict("webhook_endpoint_disabled", "This endpoint is disabled; enable it first.")
    now = clock.now()
    claimed = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
        )
        .values(status="pending", next_attempt_at=now, updated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            "delivery_in_progress", "This delivery is being sent right now; look again shortly."
        )
    await session.refresh(delivery)
    events.after_commit_wake(session)
    return delivery
