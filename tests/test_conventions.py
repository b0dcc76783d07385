"""Conventions every /v1 endpoint follows without code of its own: ETag / If-None-Match → 304
(not counted against the rate limit), Idempotency-Key on POST, unknown fields → 422, 413."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.api_keys.models import ApiKey
from botyard.bots.models import Bot
from botyard.core.clock import FrozenClock
from botyard.idempotency.models import IdempotencyRecord
from botyard.organizations.models import Organization
from tests.factories import auth, make_bot, make_key, make_org, unique


async def writer(app: FastAPI) -> tuple[Organization, dict[str, str]]:
    org = await make_org(app)
    _, plaintext = await make_key(app, org, ["write"])
    return org, auth(plaintext)


async def bots_named(app: FastAPI, org_id: str, name: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).where(Bot.organization_id == org_id, Bot.name == name)
        return int(await session.scalar(query) or 0)


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def used(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get("/v1/rate_limit", headers=headers)
    return int(response.json()["rate_limit"]["used"])


# ETag and If-None-Match ------------------------------------------------------------------


async def test_single_objects_carry_an_etag_and_answer_304_when_unchanged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    _, plaintext = await make_key(app, org, ["write"])
    headers = auth(plaintext)

    first = await client.get(f"/v1/bots/{bot.id}", headers=headers)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert (await client.get(f"/v1/bots/{bot.id}", headers=headers)).headers["etag"] == etag

    for condition in (etag, f"W/{etag}", f'"other", {etag}'):
        cached = await client.get(
            f"/v1/bots/{bot.id}", headers={**headers, "If-None-Match": condition}
        )
        assert cached.status_code == 304, condition
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        assert cached.headers["x-request-id"].startswith("req_")
        assert "x-ratelimit-remaining" in cached.headers

    stale = await client.get(f"/v1/bots/{bot.id}", headers={**headers, "If-None-Match": '"old"'})
    assert stale.status_code == 200 and stale.json()["id"] == bot.id
    wildcard = await client.get(f"/v1/bots/{bot.id}", headers={**headers, "If-None-Match": "*"})
    assert wildcard.status_code == 200 and wildcard.headers["etag"] == etag  # see 17.3

    renamed = await client.patch(f"/v1/bots/{bot.id}", headers=headers, json={"name": "Renamed"})
    assert renamed.status_code == 200
    changed = await client.get(f"/v1/bots/{bot.id}", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Renamed"
    assert changed.headers["etag"] != etag


async def test_lists_are_conditional_too_and_errors_have_no_etag(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    await make_bot(app, org)
    _, plaintext = await make_key(app, org, ["read"])
    headers = auth(plaintext)
    listed = await client.get("/v1/bots", headers=headers)
    again = await client.get(
        "/v1/bots", headers={**headers, "If-None-Match": listed.headers["etag"]}
    )
    assert again.status_code == 304
    missing = await client.get("/v1/bots/bot_missing", headers={**headers, "If-None-Match": "*"})
    assert missing.status_code == 404
    assert "etag" not in missing.headers


async def test_live_budget_answers_are_no_store_and_never_304(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """/v1/me and /v1/rate_limit report the budget as it is now: a cached copy would lie."""
    org = await make_org(app)
    _, plaintext = await make_key(app, org, ["read"])
    headers = {**auth(plaintext), "If-None-Match": "*"}
    spec = app.openapi()["paths"]
    for path in ("/v1/me", "/v1/rate_limit"):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["cache-control"] == "no-store"
        assert "etag" not in answer.headers
        assert spec[path]["get"]["x-cache-control"] == "no-store"
    bots = await client.get("/v1/bots", headers=auth(plaintext))
    assert "etag" in bots.headers and "cache-control" not in bots.headers


async def test_a_304_is_not_counted_against_the_rate_limit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    _, plaintext = await make_key(app, org, ["read"])
    headers = auth(plaintext)

    before = await used(client, headers)
    first = await client.get(f"/v1/bots/{bot.id}", headers=headers)
    remaining = first.headers["x-ratelimit-remaining"]
    assert await used(client, headers) == before + 1
    conditional = {**headers, "If-None-Match": first.headers["etag"]}
    for _ in range(3):
        cached = await client.get(f"/v1/bots/{bot.id}", headers=conditional)
        assert cached.status_code == 304
        assert cached.headers["x-ratelimit-remaining"] == remaining
    assert await used(client, headers) == before + 1
    counted = await client.get(f"/v1/bots/{bot.id}", headers=headers)
    assert int(counted.headers["x-ratelimit-remaining"]) == int(remaining) - 1


# Idempotency-Key ---------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_and_body_returns_the_first_response(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org, headers = await writer(app)
    name = unique("Idempotent bot")
    key = str(uuid.uuid4())
    first = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": name})
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    retry = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": name})
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.headers["content-type"] == "application/json"
    reserialised = await client.post(
        "/v1/bots",
        headers={**with_key(headers, key), "Content-Type": "application/json"},
        content=f'{{ "name" :  "{name}" }}'.encode(),
    )
    assert reserialised.json() == first.json()
    assert await bots_named(app, org.id, name) == 1

    without_key = [
        await client.post("/v1/bots", headers=headers, json={"name": name}) for _ in "ab"
    ]
    assert [r.status_code for r in without_key] == [201, 201]
    assert await bots_named(app, org.id, name) == 3


async def test_the_same_key_with_another_body_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org, headers = await writer(app)
    key = str(uuid.uuid4())
    first = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": "One"})
    assert first.status_code == 201
    other = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": "Two"})
    assert other.status_code == 422
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["param"] == "Idempotency-Key"
    assert "different request" in error["message"]
    assert await bots_named(app, org.id, "Two") == 0
    elsewhere = await client.post(
        f"/v1/bots/{first.json()['id']}/knowledge",
        headers=with_key(headers, key),
        json={"question": "q?", "answer": "a"},
    )
    assert elsewhere.json()["error"]["code"] == "idempotency_key_reused"


async def test_keys_are_scoped_per_organization(app: FastAPI, client: httpx.AsyncClient) -> None:
    first_org, first = await writer(app)
    second_org, second = await writer(app)
    key = str(uuid.uuid4())
    one = await client.post("/v1/bots", headers=with_key(first, key), json={"name": "Shared"})
    two = await client.post("/v1/bots", headers=with_key(second, key), json={"name": "Shared"})
    assert one.status_code == two.status_code == 201
    assert "idempotent-replayed" not in two.headers
    assert one.json()["id"] != two.json()["id"]
    assert await bots_named(app, first_org.id, "Shared") == 1
    assert await bots_named(app, second_org.id, "Shared") == 1


async def test_a_replay_is_only_for_a_caller_allowed_to_make_the_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org, headers = await writer(app)
    _, reader = await make_key(app, org, ["read"])
    _, other_writer = await make_key(app, org, ["write"])
    key = str(uuid.uuid4())
    body = {"name": unique("Guarded")}
    assert (
        await client.post("/v1/bots", headers=with_key(headers, key), json=body)
    ).status_code == 201
    read_only = await client.post("/v1/bots", headers=with_key(auth(reader), key), json=body)
    assert read_only.status_code == 403
    assert read_only.json()["error"]["code"] == "missing_scope"
    another_key = await client.post(
        "/v1/bots", headers=with_key(auth(other_writer), key), json=body
    )
    assert another_key.status_code == 422
    assert another_key.json()["error"]["code"] == "idempotency_key_reused"
    assert await bots_named(app, org.id, body["name"]) == 1


async def test_a_failed_request_is_not_kept_so_a_corrected_retry_works(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org, headers = await writer(app)
    key = str(uuid.uuid4())
    invalid = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": ""})
    assert invalid.status_code == 422
    fixed = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": "Fixed"})
    assert fixed.status_code == 201
    assert "idempotent-replayed" not in fixed.headers
    assert await bots_named(app, org.id, "Fixed") == 1


async def test_records_expire_after_24_hours(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org, headers = await writer(app)
    key = str(uuid.uuid4())
    first = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": "Daily"})
    frozen_clock.advance(timedelta(hours=23, minutes=59))
    replay = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": "Daily"})
    assert replay.json()["id"] == first.json()["id"]
    frozen_clock.advance(timedelta(minutes=2))
    fresh = await client.post("/v1/bots", headers=with_key(headers, key), json={"name": "Daily"})
    assert fresh.status_code == 201
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] != first.json()["id"]
    assert await bots_named(app, org.id, "Daily") == 2


async def test_concurrent_duplicates_create_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    org, headers = await writer(app)
    key = str(uuid.uuid4())
    name = unique("Raced")
    responses = await asyncio.gather(
        *(
            client.post("/v1/bots", headers=with_key(headers, key), json={"name": name})
            for _ in range(6)
        )
    )
    created = [r for r in responses if r.status_code == 201]
    in_flight = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_flight) == 6, [r.text for r in responses]
    assert {r.json()["id"] for r in created} and len({r.json()["id"] for r in created}) == 1
    originals = [r for r in created if "idempotent-replayed" not in r.headers]
    assert len(originals) == 1
    for response in in_flight:
        assert response.json()["error"]["code"] == "idempotency_request_in_progress"
    assert await bots_named(app, org.id, name) == 1


async def test_a_created_api_key_is_replayed_to_its_creator_but_never_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    _, admin = await make_key(app, org, ["admin"])
    headers = with_key(auth(admin), str(uuid.uuid4()))
    body = {"name": unique("Once"), "scopes": ["read"]}
    first = await client.post("/v1/api-keys", headers=headers, json=body)
    retry = await client.post("/v1/api-keys", headers=headers, json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    plaintext = first.json()["key"]
    async with app.state.sessionmaker() as session:
        records = (
            await session.scalars(
                select(IdempotencyRecord).where(IdempotencyRecord.organization_id == org.id)
            )
        ).all()
        assert len(records) == 1
        assert plaintext not in records[0].response_body
        assert plaintext[4:20] not in records[0].response_body
        keys = await session.scalar(
            select(func.count()).where(
                ApiKey.organization_id == org.id, ApiKey.name == body["name"]
            )
        )
        assert keys == 1


@pytest.mark.parametrize("bad", ["", "x" * 256, "spaces are not allowed", "é"])
async def test_a_malformed_idempotency_key_is_refused(
    app: FastAPI, client: httpx.AsyncClient, bad: str
) -> None:
    _, headers = await writer(app)
    response = await client.post(
        "/v1/bots",
        headers={**headers, "Idempotency-Key": bad.encode()},  # type: ignore[dict-item]
        json={"name": "n"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert response.json()["error"]["param"] == "Idempotency-Key"


# Bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("POST", "/v1/bots", {"name": "n", "colour": "red"}, "colour"),
        ("PATCH", "/v1/bots/{bot_id}", {"nickname": "n"}, "nickname"),
        ("POST", "/v1/api-keys", {"name": "n", "scopes": ["read"], "admin": True}, "admin"),
        ("POST", "/v1/team/members", {"email": "a@example.com", "owner": True}, "owner"),
        ("POST", "/v1/api-keys/{key_id}/rotate", {"grace": "1h"}, "grace"),
    ],
)
async def test_unknown_body_fields_are_refused_by_name(
    app: FastAPI,
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any],
    param: str,
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    admin, plaintext = await make_key(app, org, ["admin"])
    url = path.format(bot_id=bot.id, key_id=admin.id)
    response = await client.request(method, url, headers=auth(plaintext), json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert error["param"] == param
    assert param in error["message"]


@pytest.fixture
async def small_body_app(database_url: str) -> AsyncIterator[FastAPI]:
    from botyard.main import create_app
    from tests.conftest import make_settings

    application = create_app(make_settings(database_url, max_body_bytes=2048))
    async with application.router.lifespan_context(application):
        yield application


async def test_oversized_bodies_are_refused_with_413(small_body_app: FastAPI) -> None:
    org, headers = await writer(small_body_app)
    transport = httpx.ASGITransport(app=small_body_app, client=("192.0.2.77", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        declared = await c.post(
            "/v1/bots", headers=headers, json={"name": "n", "description": "x" * 4000}
        )

        async def stream() -> AsyncIterator[bytes]:
            yield b'{"name": "n", "description": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        undeclared = await c.post(
            "/v1/bots", headers={**headers, "Content-Type": "application/json"}, content=stream()
        )
        fits = await c.post("/v1/bots", headers=headers, json={"name": "n", "description": "ok"})
    for response in (declared, undeclared):
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("payload_too_large", "payload_too_large")
        assert "2048" in error["message"]
        assert error["request_id"] == response.headers["x-request-id"]
    assert fits.status_code == 201
    assert await bots_named(small_body_app, org.id, "n") == 1


FOREIGN_PROTOCOL_BODIES = {
    ("post", "/v1/secret-scanning/github"): "GitHub's secret scanning alerts: their fields are "
    "GitHub's to extend, and an alert refused for a new field would leave a leaked key working",
}


async def test_every_request_body_in_the_document_forbids_unknown_fields(
    client: httpx.AsyncClient,
) -> None:
    """Holds for routes added later too: their body models must say ``extra="forbid"``."""
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> list[dict[str, Any]]:
        if "$ref" in schema:
            return resolve(schemas[schema["$ref"].rsplit("/", 1)[-1]])
        if "anyOf" in schema:
            return [s for option in schema["anyOf"] for s in resolve(option)]
        return [] if schema.get("type") == "null" else [schema]

    bodies = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/v1/") or "requestBody" not in operation:
                continue
            if (method, path) in FOREIGN_PROTOCOL_BODIES:
                continue
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            for schema in resolve(body):
                assert schema.get("additionalProperties") is False, (method, path, schema)
                bodies += 1
    assert bodies >= 10
