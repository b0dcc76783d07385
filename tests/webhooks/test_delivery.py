"""The delivery worker against a real HTTP receiver: Standard Webhooks signatures checked by an
independent implementation, retries with the same webhook-id on the contract's schedule (the
clock is moved, never slept), Retry-After, 410 and five failing days disabling the endpoint,
rotated secrets, and the outbox: a rolled-back change sends nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.audit.models import AuditEvent
from botyard.audit.service import CLI_ACTOR
from botyard.conversations import service as conversations
from botyard.core.clock import FrozenClock
from botyard.core.secretbox import app_secret_box
from botyard.organizations.models import Organization
from botyard.webhooks import service
from botyard.webhooks import worker as worker_module
from botyard.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from botyard.webhooks.worker import DeliveryWorker
from botyard_sdk import webhooks as sdk_webhooks
from tests.factories import auth, make_bot, make_key
from tests.webhooks.receiver import Answer, Received, Receiver
from tests.webhooks.support import deliveries_of, make_endpoint


def independent_signatures(secret: str, received: Received) -> set[str]:
    """The Standard Webhooks signature, computed here from the spec's own words."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = b".".join(
        [
            received.headers["webhook-id"].encode(),
            received.headers["webhook-timestamp"].encode(),
            received.body,
        ]
    )
    return {"v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()}


async def start_conversation(app: FastAPI, org: Organization) -> str:
    bot = await make_bot(app, org)
    async with app.state.sessionmaker() as session:
        conversation, _ = await conversations.start_conversation(session, bot)
        await session.commit()
        return conversation.id


async def test_a_delivery_is_signed_as_the_spec_says(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    client: httpx.AsyncClient,
) -> None:
    endpoint, secret = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    bot = await make_bot(app, org)
    _, key = await make_key(app, org, ["write"])
    started = await client.post(f"/v1/bots/{bot.id}/conversations", headers=auth(key))
    assert started.status_code == 201

    assert await worker.run_once() == 1
    (received,) = receiver.wait_for(1)
    headers = received.headers
    assert headers["content-type"] == "application/json"
    assert received.headers["webhook-signature"] in independent_signatures(secret, received)
    event = sdk_webhooks.verify(received.body, headers, secret)
    assert headers["webhook-id"] == event["id"] and event["id"].startswith("evt_")
    assert event["type"] == "conversation.created"
    assert event["organization_id"] == org.id
    assert event["created_at"].endswith("Z")
    shown = await client.get(f"/v1/conversations/{started.json()['id']}", headers=auth(key))
    assert event["data"] == shown.json(), "the data is the object as the API shows it"
    (delivery,) = await deliveries_of(app, endpoint.id)
    assert delivery.status == "succeeded" and delivery.event_id == event["id"]


async def test_retries_keep_the_webhook_id_and_follow_the_schedule(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    endpoint, secret = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    receiver.answer_with(Answer(500, b"boom"), Answer(502, b"x" * 5000), Answer(200, b"thanks"))
    await start_conversation(app, org)
    await worker.run_once()
    (first,) = receiver.wait_for(1)
    (failed,) = await deliveries_of(app, endpoint.id)
    assert failed.status == "pending"
    wait = failed.next_attempt_at - frozen_clock.now()  # type: ignore[operator]
    assert timedelta(seconds=4.5) <= wait <= timedelta(seconds=5.5)

    assert await worker.run_once() == 0, "nothing is due before the backoff is over"
    frozen_clock.advance(timedelta(seconds=6))
    assert await worker.run_once() == 1
    again = receiver.wait_for(2)[1]
    failed_id = first.headers["webhook-id"]
    assert again.headers["webhook-id"] == failed_id and again.body == first.body
    sdk_webhooks.verify(again.body, again.headers, secret, now=frozen_clock.timestamp())

    (retried,) = await deliveries_of(app, endpoint.id)
    wait = retried.next_attempt_at - frozen_clock.now()  # type: ignore[operator]
    assert timedelta(minutes=4.5) <= wait <= timedelta(minutes=5.5)
    frozen_clock.advance(timedelta(minutes=6))
    assert await worker.run_once() == 1
    assert receiver.wait_for(3)[2].headers["webhook-id"] == failed_id

    async with app.state.sessionmaker() as session:
        attempts = (
            await session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == failed.id)
                .order_by(WebhookAttempt.at)
            )
        ).all()
    assert [a.response_status for a in attempts] == [500, 502, 200]
    assert attempts[0].response_body == "boom"
    assert len(attempts[1].response_body) == 1024
    (final,) = await deliveries_of(app, endpoint.id)
    assert final.status == "succeeded" and final.next_attempt_at is None
    assert worker.attempts == {"retrying": 2, "delivered": 1}  # what /metrics reports


async def test_retry_after_sets_the_next_attempt(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    endpoint, _ = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    receiver.answer_with(Answer(429, b"slow down", {"Retry-After": "120"}))
    await start_conversation(app, org)
    await worker.run_once()
    (delivery,) = await deliveries_of(app, endpoint.id)
    assert delivery.next_attempt_at == frozen_clock.now() + timedelta(seconds=120)


async def test_410_disables_the_endpoint_with_an_audit_entry(
    app: FastAPI, org: Organization, worker: DeliveryWorker, receiver: Receiver
) -> None:
    endpoint, _ = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    receiver.default = Answer(410, b"gone")
    await start_conversation(app, org)
    await worker.run_once()
    receiver.wait_for(1)
    await start_conversation(app, org)
    assert await worker.run_once() == 0
    async with app.state.sessionmaker() as session:
        row = await session.get(WebhookEndpoint, endpoint.id)
        assert row is not None and not row.enabled and "410" in (row.disabled_reason or "")
        audit = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.organization_id == org.id, AuditEvent.action == "webhook.disabled"
                )
            )
        ).all()
    assert [a.target_id for a in audit] == [endpoint.id]
    (first, *_) = await deliveries_of(app, endpoint.id)
    assert first.status == "failed"
    assert len(receiver.received) == 1


async def test_five_days_of_failures_disable_the_endpoint(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    endpoint, _ = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    receiver.default = Answer(500, b"down")
    for _ in range(4):  # failures on days 0, 2, 4 and 6
        await start_conversation(app, org)
        await worker.run_once()
        frozen_clock.advance(timedelta(days=2))
    async with app.state.sessionmaker() as session:
        row = await session.get(WebhookEndpoint, endpoint.id)
        assert row is not None and not row.enabled and "5 days" in (row.disabled_reason or "")
        count = await session.scalar(
            select(func.count()).where(
                AuditEvent.target_id == endpoint.id, AuditEvent.action == "webhook.disabled"
            )
        )
    assert count == 1


async def test_a_success_resets_the_failing_streak(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    endpoint, _ = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    for answer in (500, 200, 500):
        receiver.answer_with(Answer(answer))
        await start_conversation(app, org)
        await worker.run_once()
        frozen_clock.advance(timedelta(days=3))
    async with app.state.sessionmaker() as session:
        row = await session.get(WebhookEndpoint, endpoint.id)
    assert row is not None and row.enabled


async def test_a_rolled_back_change_sends_nothing(
    app: FastAPI, org: Organization, worker: DeliveryWorker, receiver: Receiver
) -> None:
    endpoint, _ = await make_endpoint(app, org, receiver.url)
    bot = await make_bot(app, org)
    async with app.state.sessionmaker() as session:
        await conversations.start_conversation(session, bot)
        await session.rollback()
    assert await worker.run_once() == 0
    assert await deliveries_of(app, endpoint.id) == []
    async with app.state.sessionmaker() as session:
        events = await session.scalar(
            select(func.count()).where(WebhookEvent.organization_id == org.id)
        )
    assert events == 0 and receiver.received == []


async def test_a_rotated_secret_signs_alongside_the_new_one(
    app: FastAPI, org: Organization, worker: DeliveryWorker, receiver: Receiver
) -> None:
    endpoint, old_secret = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    async with app.state.sessionmaker() as session:
        row = await session.get(WebhookEndpoint, endpoint.id)
        assert row is not None
        new_secret = await service.rotate_secret(
            session, app_secret_box(app.state), row, actor=CLI_ACTOR
        )
        await session.commit()
    await start_conversation(app, org)
    await worker.run_once()
    (received,) = receiver.wait_for(1)
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    sdk_webhooks.verify(received.body, received.headers, old_secret)
    sdk_webhooks.verify(received.body, received.headers, new_secret)


async def test_a_name_that_resolves_to_loopback_at_delivery_time_is_not_contacted(
    app: FastAPI, org: Organization, receiver: Receiver
) -> None:
    """DNS rebinding: the name was public when saved, and points at the server when sent."""

    async def public_then(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    async def now_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    endpoint, _ = await make_endpoint(
        app,
        org,
        f"https://rebind.example:{receiver.port}/hook",
        ["conversation.created"],
        resolver=public_then,
    )

    strict = DeliveryWorker(
        app.state.sessionmaker,
        lambda: app_secret_box(app.state),
        allow_private=False,
        resolver=now_loopback,
    )
    await start_conversation(app, org)
    await strict.run_once()
    await strict.close()
    assert receiver.received == []
    async with app.state.sessionmaker() as session:
        (attempt,) = (
            await session.scalars(
                select(WebhookAttempt).where(
                    WebhookAttempt.delivery_id.in_(
                        [d.id for d in await deliveries_of(app, endpoint.id)]
                    )
                )
            )
        ).all()
    assert attempt.response_status is None and "loopback" in (attempt.error or "")


async def test_attempts_are_kept_30_days(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    endpoint, _ = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    await start_conversation(app, org)
    await worker.run_once()
    (delivery,) = await deliveries_of(app, endpoint.id)

    async def attempts() -> int:
        async with app.state.sessionmaker() as session:
            count = await session.scalar(
                select(func.count()).where(WebhookAttempt.delivery_id == delivery.id)
            )
            return int(count or 0)

    frozen_clock.advance(timedelta(days=29))
    await worker.purge()
    assert await attempts() == 1
    frozen_clock.advance(timedelta(days=2))
    await worker.purge()
    assert await attempts() == 0
    assert await deliveries_of(app, endpoint.id) == []


async def test_an_attempt_that_takes_too_long_is_cut_off_and_retried(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_module, "ATTEMPT_TIMEOUT", 0.5)  # the contract's 10 s, shortened
    endpoint, _ = await make_endpoint(app, org, receiver.url, ["conversation.created"])
    receiver.answer_with(Answer(200, b"late", delay=3))
    await start_conversation(app, org)
    await worker.run_once()
    (delivery,) = await deliveries_of(app, endpoint.id)
    async with app.state.sessionmaker() as session:
        (attempt,) = (
            await session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
            )
        ).all()
    assert attempt.response_status is None and "timed out" in (attempt.error or "")
    assert attempt.duration_ms < 2000
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
