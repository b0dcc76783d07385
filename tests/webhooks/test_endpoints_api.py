"""/v1/webhooks: endpoints managed with an admin key, secrets shown once and sealed at rest."""

from __future__ import annotations

import base64

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from botyard.audit.models import AuditEvent
from botyard.webhooks.models import WebhookEndpoint
from tests.factories import auth, make_key, make_org
from tests.webhooks.support import PUBLIC_URL, deliveries_of


async def admin(app: FastAPI) -> tuple[str, dict[str, str]]:
    org = await make_org(app)
    _, plaintext = await make_key(app, org, ["admin"])
    return org.id, auth(plaintext)


async def test_create_shows_the_secret_once_and_seals_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org_id, headers = await admin(app)
    created = await client.post(
        "/v1/webhooks",
        headers=headers,
        json={"url": PUBLIC_URL, "events": ["conversation.created"], "description": "CRM"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["object"] == "webhook_endpoint" and body["id"].startswith("wh_")
    assert body["events"] == ["conversation.created"] and body["enabled"] is True
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32

    shown = await client.get(f"/v1/webhooks/{body['id']}", headers=headers)
    assert shown.status_code == 200 and "secret" not in shown.json()
    listed = await client.get("/v1/webhooks", headers=headers)
    assert [e["id"] for e in listed.json()["data"]] == [body["id"]]
    assert secret not in listed.text

    async with app.state.sessionmaker() as session:
        row = await session.get(WebhookEndpoint, body["id"])
        assert row is not None
        assert secret not in row.sealed_secret and secret[6:] not in row.sealed_secret
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.organization_id == org_id)
            )
        ).all()
    assert "webhook.created" in actions


async def test_update_rotate_test_and_delete(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await admin(app)
    created = (await client.post("/v1/webhooks", headers=headers, json={"url": PUBLIC_URL})).json()
    path = f"/v1/webhooks/{created['id']}"
    assert created["events"] == ["*"]

    patched = await client.patch(
        path, headers=headers, json={"events": ["message.unanswered"], "enabled": False}
    )
    assert patched.status_code == 200
    assert patched.json()["events"] == ["message.unanswered"] and not patched.json()["enabled"]
    refused = await client.post(f"{path}/test", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "webhook_endpoint_disabled"
    await client.patch(path, headers=headers, json={"enabled": True})

    rotated = await client.post(f"{path}/rotate-secret", headers=headers)
    assert rotated.status_code == 201
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]

    test = await client.post(f"{path}/test", headers=headers)
    assert test.status_code == 202, test.text
    delivery = test.json()
    assert delivery["object"] == "webhook_delivery" and delivery["id"].startswith("dlv_")
    assert delivery["event_type"] == "webhook.test" and delivery["status"] == "pending"
    assert delivery["attempts"] == []
    (stored,) = await deliveries_of(app, created["id"])
    assert stored.id == delivery["id"]
    listed = await client.get(f"{path}/deliveries", headers=headers)
    assert [d["id"] for d in listed.json()["data"]] == [delivery["id"]]
    retried = await client.post(f"{path}/deliveries/{delivery['id']}/retry", headers=headers)
    assert retried.status_code == 202 and retried.json()["event_id"] == delivery["event_id"]

    deleted = await client.delete(path, headers=headers)
    assert deleted.json() == {"id": created["id"], "object": "webhook_endpoint", "deleted": True}
    assert (await client.get(path, headers=headers)).status_code == 404


async def test_another_organizations_endpoint_is_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, owner = await admin(app)
    _, stranger = await admin(app)
    created = (await client.post("/v1/webhooks", headers=owner, json={"url": PUBLIC_URL})).json()
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test")):
        response = await client.request(
            method,
            f"/v1/webhooks/{created['id']}{suffix}",
            headers=stranger,
            json={} if method == "PATCH" else None,
        )
        assert response.status_code == 404, (method, suffix, response.text)


async def test_bad_input_is_a_named_4xx(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await admin(app)
    cases = [
        ({"url": PUBLIC_URL, "events": ["bot.exploded"]}, "events"),
        ({"url": PUBLIC_URL, "events": []}, "events"),
        ({"url": PUBLIC_URL, "secret": "whsec_mine"}, "secret"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://93.184.215.14/x"}, "url"),
    ]
    for body, param in cases:
        response = await client.post("/v1/webhooks", headers=headers, json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.json()["error"].get("param") == param, (body, response.json())
