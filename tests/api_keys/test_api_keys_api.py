"""/v1/api-keys over HTTP: create (key shown once), list, get, revoke, rotate, validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from botyard.api_keys import keyformat
from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey
from botyard.audit.models import AuditEvent
from botyard.audit.service import Actor
from botyard.core.clock import FrozenClock
from botyard.core.errors import InsufficientPermissions
from botyard.core.timefmt import rfc3339
from tests.factories import auth, make_key, make_org, unique

KEY_FIELDS = {
    "id",
    "object",
    "name",
    "scopes",
    "hint",
    "created_at",
    "created_by",
    "expires_at",
    "last_used_at",
    "last_used_ip",
    "revoked_at",
    "rotated_to",
    "rotated_from",
    "allowed_ips",
    "rate_limit",
    "status",
    "warnings",
}


async def admin_client(app: FastAPI) -> tuple[Any, ApiKey, dict[str, str]]:
    org = await make_org(app)
    row, plaintext = await make_key(app, org, ["admin"])
    return org, row, auth(plaintext)


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("name", unique("Key"))
    body.setdefault("scopes", ["read"])
    return await client.post("/v1/api-keys", headers=headers, json=body)


async def test_create_shows_the_key_once_and_later_reads_show_only_the_hint(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, admin, headers = await admin_client(app)
    response = await create(client, headers, name="Website Integration", scopes=["write"])
    assert response.status_code == 201, response.text
    created = response.json()
    plaintext = created["key"]
    assert keyformat.format_problem(plaintext) is None
    assert set(created) == KEY_FIELDS | {"key"}
    assert created["object"] == "api_key"
    assert created["name"] == "Website Integration"
    assert created["scopes"] == ["write"]
    assert created["hint"] == keyformat.hint(plaintext)
    assert created["status"] == "active"
    assert created["created_by"] == admin.id
    assert created["created_at"] == rfc3339(frozen_clock.now())
    assert created["created_at"].endswith("Z")
    assert created["warnings"] == []

    fetched = await client.get(f"/v1/api-keys/{created['id']}", headers=headers)
    assert fetched.status_code == 200
    assert set(fetched.json()) == KEY_FIELDS
    assert plaintext not in fetched.text
    listed = await client.get("/v1/api-keys", headers=headers)
    assert plaintext not in listed.text
    assert created["id"] in [k["id"] for k in listed.json()["data"]]

    new_key_works = await client.get("/v1/me", headers=auth(plaintext))
    assert new_key_works.status_code == 200
    assert new_key_works.json()["key"]["id"] == created["id"]

    async with app.state.sessionmaker() as session:
        event = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.target_id == created["id"], AuditEvent.action == "api_key.created"
                )
            )
        ).one()
        assert (event.actor_type, event.actor_id) == ("api_key", admin.id)
        assert event.ip is not None
        assert plaintext not in str(event.data)


async def test_an_admin_key_creates_read_write_and_admin_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, _, headers = await admin_client(app)
    for scopes in (["read"], ["write"], ["admin"], ["read", "admin"]):
        response = await create(client, headers, scopes=scopes)
        assert response.status_code == 201, response.text
        assert response.json()["scopes"] == scopes


async def test_a_key_never_creates_a_wider_key(app: FastAPI) -> None:
    """Only admin keys reach the HTTP route, so the rule is checked where it lives."""
    org = await make_org(app)
    writer, _ = await make_key(app, org, ["write"])
    async with app.state.sessionmaker() as session:
        with pytest.raises(InsufficientPermissions) as refused:
            await keys.create_key(
                session,
                org,
                name="escalation",
                scopes=["admin"],
                actor=Actor("api_key", writer.id),
                creator_scopes=frozenset({"read", "write"}),
            )
        assert refused.value.code == "scope_not_granted"
        assert "admin" in refused.value.message
        narrower, _ = await keys.create_key(
            session,
            org,
            name="narrower",
            scopes=["read"],
            actor=Actor("api_key", writer.id),
            creator_scopes=frozenset({"read", "write"}),
        )
        assert narrower.scopes == ["read"]
        await session.rollback()


async def test_expiry_by_time_or_duration(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, _, headers = await admin_client(app)
    at = frozen_clock.now() + timedelta(days=30)
    by_time = await create(client, headers, expires_at=rfc3339(at))
    assert by_time.status_code == 201, by_time.text
    assert by_time.json()["expires_at"] == rfc3339(at)
    by_duration = await create(client, headers, expires_in="90d")
    assert by_duration.status_code == 201, by_duration.text
    assert by_duration.json()["expires_at"] == rfc3339(frozen_clock.now() + timedelta(days=90))

    expiring = by_duration.json()["key"]
    frozen_clock.advance(timedelta(days=90))
    refused = await client.get("/v1/me", headers=auth(expiring))
    assert refused.json()["error"]["code"] == "api_key_expired"
    fetched = await client.get(f"/v1/api-keys/{by_duration.json()['id']}", headers=headers)
    assert fetched.json()["status"] == "expired"


async def test_allowed_ips_and_rate_limit_are_kept(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, _, headers = await admin_client(app)
    response = await create(
        client, headers, allowed_ips=["203.0.113.7", "10.0.0.0/8"], rate_limit=50
    )
    assert response.status_code == 201, response.text
    assert response.json()["allowed_ips"] == ["203.0.113.7/32", "10.0.0.0/8"]
    assert response.json()["rate_limit"] == 50
    refused = await client.get("/v1/me", headers=auth(response.json()["key"]))
    assert refused.json()["error"]["code"] == "ip_not_allowed"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"name": "", "scopes": ["read"]}, 422, "name"),
        ({"name": "   ", "scopes": ["read"]}, 422, "name"),
        ({"name": "x" * 101, "scopes": ["read"]}, 422, "name"),
        ({"scopes": ["read"]}, 422, "name"),
        ({"name": "k", "scopes": []}, 422, "scopes"),
        ({"name": "k", "scopes": ["superuser"]}, 422, "scopes.0"),
        ({"name": "k", "scopes": ["read"], "expires_in": "soon"}, 422, "expires_in"),
        ({"name": "k", "scopes": ["read"], "expires_in": "0d"}, 422, "expires_in"),
        ({"name": "k", "scopes": ["read"], "expires_in": "99999999999d"}, 422, "expires_in"),
        ({"name": "k", "scopes": ["read"], "expires_at": "2030-01-01T00:00:00"}, 422, "expires_at"),
        (
            {"name": "k", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"},
            400,
            "expires_at",
        ),
        ({"name": "k", "scopes": ["read"], "allowed_ips": ["not an ip"]}, 400, "allowed_ips"),
        ({"name": "k", "scopes": ["read"], "rate_limit": 0}, 422, "rate_limit"),
        ({"name": "k", "scopes": ["read"], "owner": "me"}, 422, "owner"),
    ],
)
async def test_invalid_create_bodies_name_the_field(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, Any], status: int, param: str
) -> None:
    _, _, headers = await admin_client(app)
    response = await client.post("/v1/api-keys", headers=headers, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


async def test_both_expiry_forms_at_once_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, _, headers = await admin_client(app)
    response = await create(client, headers, expires_in="1d", expires_at="2099-01-01T00:00:00Z")
    assert response.status_code == 422
    assert "not both" in response.json()["error"]["message"]


async def test_list_is_paginated_newest_first_and_filters_by_status(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, admin, headers = await admin_client(app)
    ids = [admin.id]
    for _ in range(4):
        frozen_clock.advance(timedelta(seconds=1))
        ids.append((await create(client, headers)).json()["id"])
    revoked = ids[2]
    assert (await client.delete(f"/v1/api-keys/{revoked}", headers=headers)).status_code == 200

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/api-keys", headers=headers, params=params)).json()
        assert page["object"] == "list" and len(page["data"]) <= 2
        seen.extend(k["id"] for k in page["data"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is None
            break
    assert seen == list(reversed(ids))

    only_revoked = await client.get("/v1/api-keys", headers=headers, params={"status": "revoked"})
    assert [k["id"] for k in only_revoked.json()["data"]] == [revoked]
    active = await client.get("/v1/api-keys", headers=headers, params={"status": "active"})
    assert revoked not in [k["id"] for k in active.json()["data"]]
    bad = await client.get("/v1/api-keys", headers=headers, params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "status"


async def test_revoke_is_immediate_and_final(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, _, headers = await admin_client(app)
    created = (await create(client, headers)).json()
    assert (await client.get("/v1/me", headers=auth(created["key"]))).status_code == 200
    revoked = await client.delete(f"/v1/api-keys/{created['id']}", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked_at"] is not None
    refused = await client.get("/v1/me", headers=auth(created["key"]))
    assert refused.json()["error"]["code"] == "api_key_revoked"
    again = await client.delete(f"/v1/api-keys/{created['id']}", headers=headers)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    rotate = await client.post(f"/v1/api-keys/{created['id']}/rotate", headers=headers)
    assert rotate.status_code == 409
    assert rotate.json()["error"]["code"] == "key_revoked"


async def test_rotation_keeps_the_old_key_during_grace_only(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, _, headers = await admin_client(app)
    old = (
        await create(client, headers, name="Rotated", scopes=["write"], allowed_ips=["0.0.0.0/0"])
    ).json()
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", headers=headers, json={"grace_period": "2h"}
    )
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["key"] != old["key"]
    assert keyformat.format_problem(new["key"]) is None
    assert (new["name"], new["scopes"], new["allowed_ips"]) == ("Rotated", ["write"], ["0.0.0.0/0"])
    assert new["rotated_from"] == old["id"]
    previous = new["previous_key"]
    assert previous["id"] == old["id"]
    assert previous["rotated_to"] == new["id"]
    assert previous["expires_at"] == rfc3339(frozen_clock.now() + timedelta(hours=2))
    assert previous["status"] == "active"
    assert "key" not in previous

    frozen_clock.advance(timedelta(hours=1, minutes=59))
    assert (await client.get("/v1/me", headers=auth(old["key"]))).status_code == 200
    assert (await client.get("/v1/me", headers=auth(new["key"]))).status_code == 200
    frozen_clock.advance(timedelta(minutes=1))
    refused = await client.get("/v1/me", headers=auth(old["key"]))
    assert refused.json()["error"]["code"] == "api_key_expired"
    assert (await client.get("/v1/me", headers=auth(new["key"]))).status_code == 200

    again = await client.post(f"/v1/api-keys/{old['id']}/rotate", headers=headers)
    assert again.status_code == 409


async def test_rotation_defaults_to_24_hours_of_grace(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, _, headers = await admin_client(app)
    old = (await create(client, headers)).json()
    new = (await client.post(f"/v1/api-keys/{old['id']}/rotate", headers=headers)).json()
    assert new["previous_key"]["expires_at"] == rfc3339(frozen_clock.now() + timedelta(hours=24))
    in_seconds = (await create(client, headers)).json()
    rotated = await client.post(
        f"/v1/api-keys/{in_seconds['id']}/rotate", headers=headers, json={"grace_period": 600}
    )
    assert rotated.json()["previous_key"]["expires_at"] == rfc3339(
        frozen_clock.now() + timedelta(minutes=10)
    )


async def test_rotation_with_no_grace_revokes_at_once(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, _, headers = await admin_client(app)
    old = (await create(client, headers)).json()
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", headers=headers, json={"grace_period": 0}
    )
    assert response.status_code == 201
    previous = response.json()["previous_key"]
    assert previous["status"] == "revoked"
    assert previous["revoked_at"] == rfc3339(frozen_clock.now())
    refused = await client.get("/v1/me", headers=auth(old["key"]))
    assert refused.json()["error"]["code"] == "api_key_revoked"
    assert (await client.get("/v1/me", headers=auth(response.json()["key"]))).status_code == 200


@pytest.mark.parametrize(
    ("grace", "status"),
    [
        (-1, 422),
        (604801, 422),
        ("8d", 422),
        ("tomorrow", 422),
        (True, 422),
        (604800, 201),
        ("7d", 201),
    ],
)
async def test_grace_period_bounds(
    app: FastAPI, client: httpx.AsyncClient, grace: Any, status: int
) -> None:
    _, _, headers = await admin_client(app)
    old = (await create(client, headers)).json()
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", headers=headers, json={"grace_period": grace}
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["error"]["param"].startswith("grace_period")


async def test_unknown_key_ids_are_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, _, headers = await admin_client(app)
    for method, path in (
        ("GET", "/v1/api-keys/key_doesnotexist"),
        ("DELETE", "/v1/api-keys/key_doesnotexist"),
        ("POST", "/v1/api-keys/key_doesnotexist/rotate"),
    ):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"
        assert response.json()["error"]["param"] == "key_id"


async def test_non_admin_keys_cannot_manage_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    target, _ = await make_key(app, org, ["read"])
    for scope in ("read", "write"):
        _, plaintext = await make_key(app, org, [scope])
        for method, path in (
            ("GET", "/v1/api-keys"),
            ("POST", "/v1/api-keys"),
            ("GET", f"/v1/api-keys/{target.id}"),
            ("DELETE", f"/v1/api-keys/{target.id}"),
            ("POST", f"/v1/api-keys/{target.id}/rotate"),
        ):
            response = await client.request(
                method, path, headers=auth(plaintext), json={"name": "x", "scopes": ["read"]}
            )
            assert response.status_code == 403, (scope, method, path)
            assert response.json()["error"]["code"] == "missing_scope"
    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, target.id)
        assert stored is not None and stored.revoked_at is None and stored.rotated_to is None
