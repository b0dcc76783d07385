"""Each event of the contract fires from the service that makes the change, whichever way the
change comes in, with the object as the API shows it and never a secret."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI

from botyard.core.database import Writer
from botyard.organizations.models import Organization
from botyard.webhooks import events
from botyard.webhooks.worker import DeliveryWorker
from botyard_sdk import webhooks as sdk_webhooks
from tests.factories import auth, make_bot, make_key, make_user
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import make_endpoint


async def delivered(
    worker: DeliveryWorker, receiver: Receiver, secret: str
) -> list[dict[str, Any]]:
    while await worker.run_once():
        pass
    return [sdk_webhooks.verify(r.body, r.headers, secret) for r in receiver.received]


async def test_the_contracts_events_with_api_shaped_data_and_no_secret(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    client: httpx.AsyncClient,
) -> None:
    _, admin = await make_key(app, org, ["admin"])
    headers = auth(admin)
    endpoint, secret = await make_endpoint(app, org, receiver.url, ["*"])
    bot = await make_bot(app, org, fallback_message="Sorry, no idea.")

    created = await client.post(
        "/v1/api-keys", headers=headers, json={"name": "CI", "scopes": ["read"]}
    )
    rotated = await client.post(
        f"/v1/api-keys/{created.json()['id']}/rotate", headers=headers, json={}
    )
    revoked = await client.delete(f"/v1/api-keys/{rotated.json()['id']}", headers=headers)
    conversation = await client.post(f"/v1/bots/{bot.id}/conversations", headers=headers)
    conversation_id = conversation.json()["id"]
    exchange = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        headers=headers,
        json={"text": "What is the meaning of zebras?"},
    )
    closed = await client.patch(
        f"/v1/conversations/{conversation_id}", headers=headers, json={"status": "closed"}
    )
    member = await make_user(app, org, role="member")
    removed = await client.delete(f"/v1/team/members/{member.id}", headers=headers)
    test = await client.post(f"/v1/webhooks/{endpoint.id}/test", headers=headers)
    for response in (created, rotated, revoked, conversation, exchange, closed, removed, test):
        assert response.status_code < 300, response.text

    events = await delivered(worker, receiver, secret)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    assert set(by_type) == {
        "api_key.created",
        "api_key.rotated",
        "api_key.revoked",
        "conversation.created",
        "message.created",
        "message.unanswered",
        "conversation.closed",
        "member.added",
        "member.removed",
        "webhook.test",
    }
    assert len({e["id"] for e in events}) == len(events)

    new_key_ids = {d["id"] for d in by_type["api_key.created"]}
    assert new_key_ids == {created.json()["id"], rotated.json()["id"]}
    (rotated_data,) = by_type["api_key.rotated"]
    assert rotated_data["id"] == created.json()["id"]
    assert rotated_data["rotated_to"] == rotated.json()["id"]
    (revoked_data,) = by_type["api_key.revoked"]
    assert revoked_data | {"warnings": []} == revoked.json() | {"warnings": []}
    assert by_type["conversation.created"][0]["id"] == conversation_id
    assert by_type["conversation.closed"] == [closed.json()]
    # Deliveries are sent concurrently: webhooks promise no order, so compare by id.
    messages = {m["id"]: m for m in by_type["message.created"]}
    welcome = conversation.json()["messages"][0]
    sent = [welcome, exchange.json()["message"], exchange.json()["reply"]]
    assert messages == {m["id"]: m for m in sent}
    assert by_type["message.unanswered"] == [exchange.json()["message"]]
    assert [m["id"] for m in by_type["member.added"]] == [member.id]
    assert [m["id"] for m in by_type["member.removed"]] == [member.id]
    assert by_type["webhook.test"][0]["id"] == endpoint.id

    everything = json.dumps(events)
    for secret_text in (created.json()["key"], rotated.json()["key"], admin, secret):
        assert secret_text not in everything
    assert "whsec_" not in everything


async def test_an_endpoint_gets_only_the_events_it_chose(
    app: FastAPI,
    org: Organization,
    worker: DeliveryWorker,
    receiver: Receiver,
    client: httpx.AsyncClient,
) -> None:
    _, admin = await make_key(app, org, ["admin"])
    _, secret = await make_endpoint(app, org, receiver.url, ["conversation.closed"])
    bot = await make_bot(app, org)
    conversation = await client.post(f"/v1/bots/{bot.id}/conversations", headers=auth(admin))
    await client.patch(
        f"/v1/conversations/{conversation.json()['id']}",
        headers=auth(admin),
        json={"status": "closed"},
    )
    events = await delivered(worker, receiver, secret)
    assert [e["type"] for e in events] == ["conversation.closed"]


async def test_a_writers_events_go_with_its_commit_and_not_with_its_rollback(
    app: FastAPI, org: Organization, worker: DeliveryWorker, receiver: Receiver
) -> None:
    """A chat message's events are raised in a Writer (no ORM session): written in its
    transaction at the commit, the worker woken after it, and nothing on a rollback."""
    _, secret = await make_endpoint(app, org, receiver.url, ["webhook.test"])
    woken: list[int] = []

    def wake() -> None:
        woken.append(1)

    events.add_waker(wake)
    try:
        rolled_back = Writer(app.state.engine, app.state.direct_writes)
        assert await events.emit(rolled_back, org.id, "webhook.test", {"n": 1}) is not None
        await rolled_back.rollback()
        assert woken == []
        writer = Writer(app.state.engine, app.state.direct_writes)
        event_id = await events.emit(writer, org.id, "webhook.test", {"n": 2})
        assert await events.emit(writer, org.id, "message.created", {"n": 3}) is None  # unchosen
        assert woken == []
        await writer.commit()
        assert woken == [1]
    finally:
        events.remove_waker(wake)
    delivered_events = await delivered(worker, receiver, secret)
    assert [(e["id"], e["data"]) for e in delivered_events] == [(event_id, {"n": 2})]
