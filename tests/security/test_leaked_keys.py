"""Leaked keys kill themselves: POST /v1/credentials/revoke (public, no oracle) and GitHub's
secret scanning partner endpoint (signed with ECDSA P-256; a tampered body is refused)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import select

from botyard.api_keys import keyformat
from botyard.audit.models import AuditEvent
from botyard.main import create_app
from botyard.organizations.models import Organization
from botyard.webhooks.worker import DeliveryWorker
from botyard_sdk import webhooks as sdk_webhooks
from tests.conftest import make_settings
from tests.dashboard.helpers import login
from tests.factories import auth, make_key, make_org, make_user
from tests.webhooks.receiver import running_receiver
from tests.webhooks.support import delete_endpoints, make_endpoint

REVOKE = "/v1/credentials/revoke"


def unknown_keys(count: int) -> list[str]:
    """Well-formed keys (right checksum) that no organization has."""
    return [keyformat.generate() for _ in range(count)]


async def test_a_reported_key_is_revoked_at_once_and_says_why(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    leaked, plaintext = await make_key(app, org, ["read"])
    _, admin = await make_key(app, org, ["admin"])
    assert (await client.get("/v1/me", headers=auth(plaintext))).status_code == 200

    response = await client.post(REVOKE, json={"credentials": [plaintext]})
    assert response.status_code == 202
    assert response.json() == {"object": "credential_revocation", "received": 1}

    refused = await client.get("/v1/me", headers=auth(plaintext))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"
    shown = (await client.get(f"/v1/api-keys/{leaked.id}", headers=auth(admin))).json()
    assert shown["status"] == "revoked"
    assert [w["code"] for w in shown["warnings"]] == ["leaked"]
    assert shown["warnings"][0]["message"].startswith("Leaked: revoked automatically")
    async with app.state.sessionmaker() as session:
        (entry,) = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.target_id == leaked.id, AuditEvent.action == "api_key.revoked"
                )
            )
        ).all()
    assert entry.actor_type == "credential_revocation"
    assert entry.data["reason"] == "leaked"


async def test_a_leaked_key_fires_api_key_leaked(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    leaked, plaintext = await make_key(app, org, ["read"])
    with running_receiver() as receiver:
        _, secret = await make_endpoint(app, org, receiver.url, ["api_key.leaked"])
        await client.post(REVOKE, json={"credentials": [plaintext]})
        worker = DeliveryWorker(
            app.state.sessionmaker, lambda: app.state.secret_box, allow_private=True
        )
        await worker.run_once()
        await worker.close()
        await delete_endpoints(app, org)
        (received,) = receiver.wait_for(1)
    event = sdk_webhooks.verify(received.body, received.headers, secret)
    assert event["type"] == "api_key.leaked" and event["data"]["id"] == leaked.id
    assert event["data"]["status"] == "revoked"
    assert [w["code"] for w in event["data"]["warnings"]] == ["leaked"]
    assert plaintext not in received.body.decode()


def comparable(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    varying = {"x-request-id", "date", "ratelimit", "x-ratelimit-remaining", "x-ratelimit-used"}
    headers = sorted((k, v) for k, v in response.headers.items() if k not in varying)
    return response.status_code, response.content, headers


async def test_random_and_real_batches_answer_alike(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    real = [(await make_key(app, org, ["read"]))[1] for _ in range(3)]
    random_batch = await client.post(REVOKE, json={"credentials": unknown_keys(3)})
    garbage_batch = await client.post(REVOKE, json={"credentials": ["nope", "byk_short", "x"]})
    real_batch = await client.post(REVOKE, json={"credentials": real})
    again = await client.post(REVOKE, json={"credentials": real})
    assert (
        comparable(random_batch)
        == comparable(garbage_batch)
        == comparable(real_batch)
        == comparable(again)
    )
    for plaintext in real:
        assert (await client.get("/v1/me", headers=auth(plaintext))).status_code == 401


async def test_at_most_100_credentials_and_no_unknown_fields(client: httpx.AsyncClient) -> None:
    too_many = await client.post(REVOKE, json={"credentials": unknown_keys(101)})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["param"] == "credentials"
    extra = await client.post(REVOKE, json={"credentials": ["x"], "why": "because"})
    assert extra.status_code == 422


async def test_revocation_reports_are_limited_per_client_ip(client: httpx.AsyncClient) -> None:
    limit = 60
    for _ in range(limit):
        assert (await client.post(REVOKE, json={"credentials": ["x"]})).status_code == 202
    limited = await client.post(REVOKE, json={"credentials": ["x"]})
    assert limited.status_code == 429 and "retry-after" in limited.headers


# GitHub secret scanning ---------------------------------------------------------------------

KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"


@pytest.fixture(scope="module")
def github_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def scanning_app(
    database_url: str, tmp_path: Path, github_key: ec.EllipticCurvePrivateKey
) -> AsyncIterator[FastAPI]:
    """An app whose operator configured GitHub's public keys (here: the test's own pair)."""
    pem = github_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys_file = tmp_path / "github-keys.json"
    keys_file.write_text(
        json.dumps(
            {"public_keys": [{"key_identifier": KEY_ID, "key": pem.decode(), "is_current": True}]}
        )
    )
    application = create_app(make_settings(database_url, secret_scanning_keys=str(keys_file)))
    async with application.router.lifespan_context(application):
        yield application


def signed(body: bytes, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    signature = key.sign(body, ec.ECDSA(hashes.SHA256()))
    return {
        "Github-Public-Key-Identifier": KEY_ID,
        "Github-Public-Key-Signature": base64.b64encode(signature).decode(),
        "Content-Type": "application/json",
    }


async def test_github_alerts_revoke_real_keys_and_label_each_token(
    scanning_app: FastAPI, github_key: ec.EllipticCurvePrivateKey
) -> None:
    org = await make_org(scanning_app)
    _, plaintext = await make_key(scanning_app, org, ["read"])
    stranger = unknown_keys(1)[0]
    body = json.dumps(
        [
            {
                "token": plaintext,
                "type": "botyard_api_key",
                "url": "https://x/1",
                "source": "content",
            },
            {
                "token": stranger,
                "type": "botyard_api_key",
                "url": "https://x/2",
                "source": "content",
            },
        ]
    ).encode()
    transport = httpx.ASGITransport(app=scanning_app, client=("140.82.115.1", 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            "/v1/secret-scanning/github", content=body, headers=signed(body, github_key)
        )
        assert response.status_code == 200, response.text
        assert response.json() == [
            {
                "token_hash": hashlib.sha256(plaintext.encode()).hexdigest(),
                "token_type": "botyard_api_key",
                "label": "true_positive",
            },
            {
                "token_hash": hashlib.sha256(stranger.encode()).hexdigest(),
                "token_type": "botyard_api_key",
                "label": "false_positive",
            },
        ]
        refused = await client.get("/v1/me", headers=auth(plaintext))
        assert refused.json()["error"]["code"] == "api_key_revoked"


async def test_github_alerts_with_a_tampered_body_or_unknown_key_are_refused(
    scanning_app: FastAPI, github_key: ec.EllipticCurvePrivateKey
) -> None:
    org: Organization = await make_org(scanning_app)
    _, plaintext = await make_key(scanning_app, org, ["read"])
    honest = json.dumps([{"token": "byk_nothing", "type": "t", "url": "", "source": ""}]).encode()
    tampered = json.dumps([{"token": plaintext, "type": "t", "url": "", "source": ""}]).encode()
    headers = signed(honest, github_key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    transport = httpx.ASGITransport(app=scanning_app, client=("140.82.115.2", 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for body, sent in (
            (tampered, headers),
            (honest, signed(honest, other_key)),
            (honest, {**headers, "Github-Public-Key-Identifier": "someone-else"}),
            (honest, {"Content-Type": "application/json"}),
            (honest, {**headers, "Github-Public-Key-Signature": "not base64!"}),
        ):
            response = await client.post("/v1/secret-scanning/github", content=body, headers=sent)
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] == "invalid_signature"
        assert (await client.get("/v1/me", headers=auth(plaintext))).status_code == 200


async def test_without_configured_keys_the_github_endpoint_is_closed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/secret-scanning/github", content=b"[]")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "secret_scanning_not_configured"


async def test_the_dashboard_shows_the_key_as_leaked(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    _, plaintext = await make_key(app, org, ["read"], name="Pasted in a gist")
    await client.post(REVOKE, json={"credentials": [plaintext]})
    await login(client, await make_user(app, org, "admin"))
    page = (await client.get("/dashboard/settings/api")).text
    row = page[page.index("Pasted in a gist") :]
    assert "Leaked: revoked automatically" in row[: row.index("</tr>")]
