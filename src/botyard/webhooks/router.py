"""/v1/webhooks: the organization's webhook endpoints and their deliveries (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.api_keys.deps import AdminKey
from botyard.bots.schemas import Deleted
from botyard.core.database import DBSession
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse
from botyard.core.params import Cursor, Limit
from botyard.core.secretbox import AppSecretBox
from botyard.webhooks import service
from botyard.webhooks.models import WebhookDelivery
from botyard.webhooks.schemas import (
    CreateWebhookEndpoint,
    UpdateWebhookEndpoint,
    WebhookDeliveryOut,
    WebhookEndpointCreated,
    WebhookEndpointOut,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private_urls)


async def _shown(
    session: AsyncSession, deliveries: list[WebhookDelivery]
) -> list[WebhookDeliveryOut]:
    attempts = await service.attempts_of(session, [d.id for d in deliveries])
    return [WebhookDeliveryOut.of(d, attempts[d.id]) for d in deliveries]


@router.get("", summary="List the organization's webhook endpoints, newest first")
async def list_webhooks(
    principal: AdminKey, session: DBSession, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> ListResponse[WebhookEndpointOut]:
    endpoints, has_more, next_cursor = await service.list_endpoints(
        session, principal.organization_id, limit=limit, cursor=cursor
    )
    return ListResponse[WebhookEndpointOut](
        data=[WebhookEndpointOut.of(e) for e in endpoints],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.post(
    "",
    status_code=201,
    summary="Add a webhook endpoint (its signing secret is in this response only)",
    description="The URL must be public `https://` (no loopback, private, link-local, CGNAT or "
    "metadata address). The response's `secret` (`whsec_…`) verifies the `webhook-signature` "
    "of every delivery; it is shown only here and at rotation.",
)
async def create_webhook(
    principal: AdminKey,
    session: DBSession,
    box: AppSecretBox,
    request: Request,
    body: CreateWebhookEndpoint,
) -> WebhookEndpointCreated:
    endpoint, secret = await service.create_endpoint(
        session,
        box,
        principal.organization_id,
        url=body.url,
        events_wanted=body.events,
        description=body.description,
        enabled=body.enabled,
        actor=principal.actor,
        allow_private=_allow_private(request),
    )
    return WebhookEndpointCreated(**WebhookEndpointOut.of(endpoint).model_dump(), secret=secret)


@router.get("/{webhook_id}", summary="Get a webhook endpoint")
async def get_webhook(
    principal: AdminKey, session: DBSession, webhook_id: str
) -> WebhookEndpointOut:
    return WebhookEndpointOut.of(
        await service.get_endpoint(session, principal.organization_id, webhook_id)
    )


@router.patch(
    "/{webhook_id}", summary="Change a webhook endpoint's URL, events, description or state"
)
async def update_webhook(
    principal: AdminKey,
    session: DBSession,
    request: Request,
    webhook_id: str,
    body: UpdateWebhookEndpoint,
) -> WebhookEndpointOut:
    endpoint = await service.get_endpoint(session, principal.organization_id, webhook_id)
    await service.update_endpoint(
        session,
        endpoint,
        actor=principal.actor,
        allow_private=_allow_private(request),
        url=body.url,
        events_wanted=body.events,
        description=body.description,
        enabled=body.enabled,
    )
    return WebhookEndpointOut.of(endpoint)


@router.delete("/{webhook_id}", summary="Delete a webhook endpoint and its deliveries")
async def delete_webhook(principal: AdminKey, session: DBSession, webhook_id: str) -> Deleted:
    endpoint = await service.get_endpoint(session, principal.organization_id, webhook_id)
    await service.delete_endpoint(session, endpoint, principal.actor)
    return Deleted(id=webhook_id, object="webhook_endpoint")


@router.post(
    "/{webhook_id}/rotate-secret",
    status_code=201,
    summary="Rotate the signing secret (the new one is in this response only)",
    description="For the next 24 hours every delivery carries two signatures, one per secret, "
    "so receivers can switch without missing a delivery.",
)
async def rotate_webhook_secret(
    principal: AdminKey, session: DBSession, box: AppSecretBox, webhook_id: str
) -> WebhookEndpointCreated:
    endpoint = await service.get_endpoint(session, principal.organization_id, webhook_id)
    secret = await service.rotate_secret(session, box, endpoint, principal.actor)
    return WebhookEndpointCreated(**WebhookEndpointOut.of(endpoint).model_dump(), secret=secret)


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    summary="Send one webhook.test event to this endpoint only",
)
async def test_webhook(
    principal: AdminKey, session: DBSession, webhook_id: str
) -> WebhookDeliveryOut:
    endpoint = await service.get_endpoint(session, principal.organization_id, webhook_id)
    delivery = await service.send_test(session, endpoint)
    (shown,) = await _shown(session, [delivery])
    return shown


@router.get("/{webhook_id}/deliveries", summary="List an endpoint's deliveries, newest first")
async def list_webhook_deliveries(
    principal: AdminKey,
    session: DBSession,
    webhook_id: str,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ListResponse[WebhookDeliveryOut]:
    endpoint = await service.get_endpoint(session, principal.organization_id, webhook_id)
    deliveries, has_more, next_cursor = await service.list_deliveries(
        session, endpoint, limit=limit, cursor=cursor
    )
    return ListResponse[WebhookDeliveryOut](
        data=await _shown(session, deliveries), has_more=has_more, next_cursor=next_cursor
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    summary="Send a delivery again now (same webhook-id)",
)
async def retry_webhook_delivery(
    principal: AdminKey, session: DBSession, webhook_id: str, delivery_id: str
) -> WebhookDeliveryOut:
    endpoint = await service.get_endpoint(session, principal.organization_id, webhook_id)
    delivery = await service.get_delivery(session, endpoint, delivery_id)
    await service.retry_delivery(session, endpoint, delivery)
    (shown,) = await _shown(session, [delivery])
    return shown
