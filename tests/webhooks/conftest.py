"""Each webhook test gets its own organization and worker; its endpoints go when it ends, so
no other test's worker ever finds its deliveries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI

from botyard.core.secretbox import app_secret_box
from botyard.organizations.models import Organization
from botyard.webhooks.worker import DeliveryWorker
from tests.factories import make_org
from tests.webhooks.receiver import Receiver, running_receiver
from tests.webhooks.support import delete_endpoints


@pytest.fixture
async def org(app: FastAPI) -> AsyncIterator[Organization]:
    organization = await make_org(app)
    yield organization
    await delete_endpoints(app, organization)


@pytest.fixture
async def worker(app: FastAPI) -> AsyncIterator[DeliveryWorker]:
    delivery_worker = DeliveryWorker(
        app.state.sessionmaker, lambda: app_secret_box(app.state), allow_private=True
    )
    yield delivery_worker
    await delivery_worker.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running
