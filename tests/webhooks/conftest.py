"""Each webhook test gets its own organization and worker; its endpoints go when it ends, so
no other test's worker ever finds its deliveries. Tests elsewhere (the dashboard's webhook
page, the cross-organization check…) may leave deliveries due in the shared database: the
worker fixture parks those, so a worker here sends only its own test's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from botyard.core.secretbox import app_secret_box
from botyard.organizations.models import Organization
from botyard.webhooks.models import WebhookDelivery
from botyard.webhooks.worker import DeliveryWorker
from tests.factories import make_org
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.support import delete_endpoints

PARKED_UNTIL = datetime(2999, 1, 1, tzinfo=UTC)


@pytest.fixture
async def org(app: FastAPI) -> AsyncIterator[Organization]:
    organization = await make_org(app)
    yield organization
    await delete_endpoints(app, organization)


@pytest.fixture
async def worker(app: FastAPI, org: Organization) -> AsyncIterator[DeliveryWorker]:
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.organization_id != org.id)
            .values(next_attempt_at=PARKED_UNTIL)
        )
        await session.commit()
    delivery_worker = DeliveryWorker(
        app.state.sessionmaker, lambda: app_secret_box(app.state), allow_private=True
    )
    yield delivery_worker
    await delivery_worker.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running
