"""Issue 17.5: rotations of one key racing each other, or racing its revocation.

Concurrent rotations must mint exactly one successor; a rotation racing a revocation either
loses (409, no successor) or wins and is then followed by the revocation, never mints a
successor for a key that was already revoked. Every request goes over HTTP at once with
``asyncio.gather``, repeated, on SQLite and PostgreSQL. Before the fix six rotations minted
six live successors on SQLite (two on PostgreSQL), and rotate-vs-revoke gave a revoked key
a live successor every time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import auth, make_bot, make_key, make_org

ROTATIONS = 6
TRIALS = 6


async def keys_of(client: httpx.AsyncClient, admin: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/api-keys", params={"limit": 100}, headers=auth(admin))
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def events_of(client: httpx.AsyncClient, admin: str, key_id: str) -> list[dict[str, Any]]:
    """The key's audit events, oldest first."""
    response = await client.get(
        "/v1/audit-log", params={"target_id": key_id, "limit": 100}, headers=auth(admin)
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


async def test_concurrent_rotations_mint_exactly_one_successor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(TRIALS):
        org = await make_org(app, rate_limit=100_000)
        _, admin = await make_key(app, org, ["admin"])
        target, _ = await make_key(app, org, ["read"])
        answers = await asyncio.gather(
            *(
                client.post(f"/v1/api-keys/{target.id}/rotate", headers=auth(admin))
                for _ in range(ROTATIONS)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * (ROTATIONS - 1), [a.text for a in answers]
        assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {
            "already_rotated"
        }
        (winner,) = [a.json() for a in answers if a.status_code == 201]

        successors = [k for k in await keys_of(client, admin) if k["rotated_from"] == target.id]
        assert [k["id"] for k in successors] == [winner["id"]]
        (old,) = [k for k in await keys_of(client, admin) if k["id"] == target.id]
        assert old["rotated_to"] == winner["id"]
        rotations = [e for e in await events_of(client, admin, target.id)]
        assert [e["action"] for e in rotations] == ["api_key.created", "api_key.rotated"]


async def test_rotation_racing_revocation_never_gives_a_revoked_key_a_successor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    outcomes = set()
    for trial in range(TRIALS * 2):
        org = await make_org(app, rate_limit=100_000)
        _, admin = await make_key(app, org, ["admin"])
        target, _ = await make_key(app, org, ["read"])
        rotate = client.post(f"/v1/api-keys/{target.id}/rotate", headers=auth(admin))
        revoke = client.delete(f"/v1/api-keys/{target.id}", headers=auth(admin))
        # Alternate which request is sent first, so both orders of arrival are tried.
        if trial % 2:
            revoked, rotated = await asyncio.gather(revoke, rotate)
        else:
            rotated, revoked = await asyncio.gather(rotate, revoke)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "revoked"

        successors = [k for k in await keys_of(client, admin) if k["rotated_from"] == target.id]
        actions = [e["action"] for e in await events_of(client, admin, target.id)]
        if rotated.status_code == 201:
            # The rotation came first: the successor exists, and the revocation followed it.
            assert [k["id"] for k in successors] == [rotated.json()["id"]]
            assert actions == ["api_key.created", "api_key.rotated", "api_key.revoked"]
            outcomes.add("rotated, then revoked")
        else:
            assert rotated.status_code == 409, rotated.text
            assert rotated.json()["error"]["code"] == "key_revoked"
            assert successors == []
            assert actions == ["api_key.created", "api_key.revoked"]
            outcomes.add("revoked first")
    assert outcomes, "no trial ran"


async def test_concurrent_rotations_of_a_publishable_key_mint_one_successor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(TRIALS):
        org = await make_org(app, rate_limit=100_000)
        _, admin = await make_key(app, org, ["admin"])
        bot = await make_bot(app, org)
        created = await client.post(
            f"/v1/bots/{bot.id}/publishable-keys",
            json={"name": "Shop", "allowed_origins": ["https://shop.example"]},
            headers=auth(admin),
        )
        assert created.status_code == 201, created.text
        target = created.json()["id"]
        answers = await asyncio.gather(
            *(
                client.post(
                    f"/v1/bots/{bot.id}/publishable-keys/{target}/rotate", headers=auth(admin)
                )
                for _ in range(ROTATIONS)
            )
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] + [409] * (ROTATIONS - 1), [a.text for a in answers]
        listed = await client.get(f"/v1/bots/{bot.id}/publishable-keys", headers=auth(admin))
        live = [k for k in listed.json()["data"] if k["revoked_at"] is None]
        (winner,) = [a.json() for a in answers if a.status_code == 201]
        assert [k["id"] for k in live] == [winner["id"]], listed.json()["data"]
