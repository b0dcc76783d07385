"""Every 401/403 cause of the contract, at the HTTP level, with a message that names it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from botyard.api_keys import keyformat
from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from tests.factories import auth, make_bot, make_key, make_org


def assert_error(response: httpx.Response, status: int, type_: str, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == (type_, code)
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["request_id"].startswith("req_")
    if status == 401:
        assert (
            response.headers["www-authenticate"] == 'Bearer realm="botyard", error="invalid_token"'
        )
        assert error["message"].startswith("Invalid API Key: ")
    if status == 403:
        assert error["message"].startswith("Insufficient Permissions: ")
    return str(error["message"])


async def test_a_valid_key_lists_the_organizations_bots(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org, name="Support bot")
    _, key = await make_key(app, org, ["read"])
    response = await client.get("/v1/bots", headers=auth(key))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [b["id"] for b in body["data"]] == [bot.id]
    assert body["data"][0]["name"] == "Support bot"


async def test_scheme_is_case_insensitive(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, key = await make_key(app, await make_org(app))
    response = await client.get("/v1/me", headers={"Authorization": f"bearer {key}"})
    assert response.status_code == 200


async def test_missing_header(client: httpx.AsyncClient) -> None:
    message = assert_error(await client.get("/v1/bots"), 401, "invalid_api_key", "missing_api_key")
    assert "Authorization: Bearer" in message


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Token byk_abc", "Bearer one two"],
)
async def test_malformed_authorization_header(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/v1/bots", headers={"Authorization": header})
    message = assert_error(response, 401, "invalid_api_key", "malformed_authorization_header")
    assert "Bearer" in message


async def test_malformed_keys_get_the_copy_hint(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, key = await make_key(app, await make_org(app))
    mistyped = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    cases = {
        "truncated": key[:-1],
        "with a space": key[:20] + " " + key[20:],
        "wrong prefix": "sk_" + key[3:],
        "mistyped": mistyped,
        "bad characters": key[:-6] + "!!!!!!",
    }
    for label, candidate in cases.items():
        response = await client.get("/v1/bots", headers={"Authorization": f"Bearer {candidate}"})
        message = assert_error(response, 401, "invalid_api_key", "malformed_api_key")
        assert "copy the entire key without spaces" in message.lower(), label
    truncated = await client.get("/v1/bots", headers=auth(key[:-1]))
    assert "41 characters" in truncated.json()["error"]["message"]
    spaced = await client.get("/v1/bots", headers=auth(key[:20] + " " + key[20:]))
    assert "spaces" in spaced.json()["error"]["message"]


async def test_unknown_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/bots", headers=auth(keyformat.generate()))
    message = assert_error(response, 401, "invalid_api_key", "unknown_api_key")
    assert "Settings > API" in message


async def test_expired_key_message_gives_the_time(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    expires = frozen_clock.now() + timedelta(hours=1)
    _, key = await make_key(app, await make_org(app), expires_at=expires)
    assert (await client.get("/v1/bots", headers=auth(key))).status_code == 200
    frozen_clock.advance(timedelta(hours=1))
    message = assert_error(
        await client.get("/v1/bots", headers=auth(key)), 401, "invalid_api_key", "api_key_expired"
    )
    assert rfc3339(expires) in message
    assert "expired" in message


async def test_revoked_key_message_gives_the_time(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    from botyard.api_keys import service
    from botyard.audit.service import CLI_ACTOR

    org = await make_org(app)
    row, key = await make_key(app, org)
    assert (await client.get("/v1/bots", headers=auth(key))).status_code == 200
    async with app.state.sessionmaker() as session:
        await service.revoke(session, await service.get_key(session, org.id, row.id), CLI_ACTOR)
        await session.commit()
    message = assert_error(
        await client.get("/v1/bots", headers=auth(key)), 401, "invalid_api_key", "api_key_revoked"
    )
    assert rfc3339(frozen_clock.now()) in message


@pytest.mark.parametrize("param", ["api_key", "key", "token"])
async def test_key_in_query_string_is_refused_and_flagged(
    app: FastAPI, client: httpx.AsyncClient, param: str
) -> None:
    org = await make_org(app)
    row, key = await make_key(app, org)
    response = await client.get(f"/v1/bots?{param}={key}", headers=auth(key))
    message = assert_error(response, 401, "invalid_api_key", "api_key_in_url")
    assert key not in response.text
    assert "Authorization header" in message
    await app.state.request_log.flush()
    async with app.state.sessionmaker() as session:
        from botyard.api_keys.models import ApiKey

        stored = await session.get(ApiKey, row.id)
        assert stored is not None and stored.exposed_in_url_at is not None


async def test_ip_allow_list(app: FastAPI) -> None:
    _, key = await make_key(app, await make_org(app), allowed_ips=["203.0.113.0/24"])

    async def call_from(ip: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(ip, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/v1/bots", headers=auth(key))

    assert (await call_from("203.0.113.7")).status_code == 200
    message = assert_error(
        await call_from("198.51.100.1"), 403, "insufficient_permissions", "ip_not_allowed"
    )
    assert "198.51.100.1" in message and "203.0.113.0/24" in message


async def test_plan_without_api_access(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, key = await make_key(app, await make_org(app, plan="starter"))
    message = assert_error(
        await client.get("/v1/bots", headers=auth(key)),
        403,
        "insufficient_permissions",
        "plan_required",
    )
    assert "Professional" in message and "Starter" in message


async def test_missing_scope_names_needed_and_held_scopes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, key = await make_key(app, await make_org(app), ["read"])
    response = await client.get("/v1/api-keys", headers=auth(key))
    if response.status_code == 404:
        pytest.skip("no admin route mounted yet")
    message = assert_error(response, 403, "insufficient_permissions", "missing_scope")
    assert "'admin'" in message and "'read'" in message


async def test_me_describes_key_organization_and_limit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app, name="Connection Test Org")
    row, key = await make_key(app, org, ["write"], name="Website Integration")
    response = await client.get("/v1/me", headers=auth(key))
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == {
        "id": row.id,
        "name": "Website Integration",
        "hint": keyformat.hint(key),
        "scopes": ["write"],
        "expires_at": None,
    }
    assert body["organization"]["name"] == "Connection Test Org"
    assert body["organization"]["plan"] == "professional"
    assert body["rate_limit"]["limit"] == 1000


async def test_key_in_url_is_refused_before_routing_and_flagged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An unknown path or a key pasted into a path segment is refused like a query parameter."""
    from botyard.api_keys.models import ApiKey

    org = await make_org(app)
    row, key = await make_key(app, org)
    for url in (f"/v1/nothing-here?api_key={key}", f"/v1/bots/{key}", f"/v1/bots?q={key}"):
        response = await client.get(url, headers=auth(key))
        assert_error(response, 401, "invalid_api_key", "api_key_in_url")
        assert key not in response.text
    await app.state.request_log.flush()
    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, row.id)
        assert stored is not None and stored.exposed_in_url_at is not None


async def test_ordinary_query_strings_pass(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, key = await make_key(app, await make_org(app))
    response = await client.get("/v1/bots?limit=5", headers=auth(key))
    assert response.status_code == 200
