"""PATCH /v1/api-keys/{id} (issue 16 item 11) and one live key per name (item 13)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from botyard.audit.models import AuditEvent
from tests.api_keys.test_api_keys_api import admin_client, create
from tests.factories import auth, make_key, make_org, unique


def from_address(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_patch_changes_the_allow_list_limit_name_and_scopes_of_a_live_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org, _, headers = await admin_client(app)
    row, plaintext = await make_key(app, org, ["write"], allowed_ips=["198.51.100.0/24"])
    async with from_address(app, "203.0.113.9") as office:
        refused = await office.get("/v1/me", headers=auth(plaintext))
        assert refused.json()["error"]["code"] == "ip_not_allowed"
        assert "Settings > API" in refused.json()["error"]["message"]

        patched = await client.patch(
            f"/v1/api-keys/{row.id}",
            headers=headers,
            json={"allowed_ips": ["203.0.113.0/24"], "rate_limit": 25, "name": "Office"},
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["allowed_ips"] == ["203.0.113.0/24"]
        assert (body["rate_limit"], body["name"], body["scopes"]) == (25, "Office", ["write"])
        assert "key" not in body

        allowed = await office.get("/v1/me", headers=auth(plaintext))
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["X-RateLimit-Limit"] == "25"

        cleared = await client.patch(
            f"/v1/api-keys/{row.id}",
            headers=headers,
            json={"allowed_ips": None, "rate_limit": None, "scopes": ["read"]},
        )
        assert cleared.status_code == 200, cleared.text
        assert (cleared.json()["allowed_ips"], cleared.json()["rate_limit"]) == (None, None)
        assert cleared.json()["name"] == "Office", "fields not sent stay as they are"
        write = await office.post("/v1/bots", headers=auth(plaintext), json={"name": "B"})
        assert write.json()["error"]["code"] == "missing_scope"

    async with app.state.sessionmaker() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.data).where(
                    AuditEvent.target_id == row.id, AuditEvent.action == "api_key.updated"
                )
            )
        ).all()
    assert sorted(sorted(a["changed"]) for a in actions) == [
        ["allowed_ips", "name", "rate_limit"],
        ["allowed_ips", "rate_limit", "scopes"],
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": None}, "name"),
        ({"name": "  "}, "name"),
        ({"scopes": None}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["root"]}, "scopes"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"allowed_ips": ["not an address"]}, "allowed_ips"),
        ({"key": "byk_forged"}, "key"),
    ],
)
async def test_patch_refuses_bad_fields_by_name(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    org, _, headers = await admin_client(app)
    row, _ = await make_key(app, org)
    response = await client.patch(f"/v1/api-keys/{row.id}", headers=headers, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["param"].split(".")[0] == param


async def test_patch_refuses_revoked_keys_and_other_organizations_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org, _, headers = await admin_client(app)
    row, _ = await make_key(app, org)
    await client.delete(f"/v1/api-keys/{row.id}", headers=headers)
    revoked = await client.patch(f"/v1/api-keys/{row.id}", headers=headers, json={"name": "x"})
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (409, "key_revoked")

    foreign, _ = await make_key(app, await make_org(app))
    hidden = await client.patch(f"/v1/api-keys/{foreign.id}", headers=headers, json={"name": "x"})
    assert hidden.status_code == 404


async def test_a_live_name_is_refused_until_that_key_is_revoked(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, _, headers = await admin_client(app)
    name = unique("Website Integration")
    first = await create(client, headers, name=name)
    assert first.status_code == 201
    again = await create(client, headers, name=name.upper())
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert (error["code"], error["param"]) == ("duplicate_key_name", "name")
    assert first.json()["hint"] in error["message"]

    other = await create(client, headers, name=unique("Other"))
    renamed = await client.patch(
        f"/v1/api-keys/{other.json()['id']}", headers=headers, json={"name": name}
    )
    assert renamed.json()["error"]["code"] == "duplicate_key_name"
    same = await client.patch(
        f"/v1/api-keys/{first.json()['id']}", headers=headers, json={"name": name}
    )
    assert same.status_code == 200, "keeping its own name is not a clash"

    rotated = await client.post(f"/v1/api-keys/{first.json()['id']}/rotate", headers=headers)
    assert rotated.status_code == 201, "a rotation's successor takes over the name"
    assert rotated.json()["name"] == name

    await client.delete(f"/v1/api-keys/{rotated.json()['id']}", headers=headers)
    await client.delete(f"/v1/api-keys/{first.json()['id']}", headers=headers)
    reused = await create(client, headers, name=name)
    assert reused.status_code == 201, reused.text


async def test_concurrent_creates_with_one_name_make_one_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, _, headers = await admin_client(app)
    name = unique("Race")
    for _ in range(3):
        answers = await asyncio.gather(*(create(client, headers, name=name) for _ in range(6)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses.count(201) <= 1, statuses
        assert set(statuses) <= {201, 409}, [a.text for a in answers]
        listed = await client.get("/v1/api-keys", headers=headers, params={"status": "active"})
        assert [k["name"] for k in listed.json()["data"]].count(name) == 1
