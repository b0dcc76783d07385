"""Helpers shared by the webhook tests."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import delete, select

from botyard.audit.service import CLI_ACTOR
from botyard.core.secretbox import app_secret_box
from botyard.organizations.models import Organization
from botyard.webhooks import service, ssrf
from botyard.webhooks.models import WebhookDelivery, WebhookEndpoint

PUBLIC_URL = "https://93.184.215.14/hooks/botyard"
"""A public address, written as a literal so no test depends on DNS."""


async def make_endpoint(
    app: FastAPI,
    org: Organization,
    url: str,
    events: list[str] | None = None,
    resolver: ssrf.Resolver = ssrf.system_resolver,
) -> tuple[WebhookEndpoint, str]:
    """An endpoint made through the service, allowed to point at the test's local receiver."""
    async with app.state.sessionmaker() as session:
        endpoint, secret = await service.create_endpoint(
            session,
            app_secret_box(app.state),
            org.id,
            url=url,
            events_wanted=events or ["*"],
            description="test receiver",
            enabled=True,
            actor=CLI_ACTOR,
            allow_private=True,
            resolver=resolver,
        )
        await session.commit()
        return endpoint, secret


async def deliveries_of(app: FastAPI, endpoint_id: str) -> list[WebhookDelivery]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
        return list(rows)


async def delete_endpoints(app: FastAPI, org: Organization) -> None:
    """Drop an organization's endpoints (and so their deliveries), so that no later test's
    worker finds them due."""
    async with app.state.sessionmaker() as session:
        await session.execute(
            delete(WebhookEndpoint).where(WebhookEndpoint.organization_id == org.id)
        )
        await session.commit()
