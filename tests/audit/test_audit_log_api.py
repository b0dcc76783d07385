"""GET /v1/audit-log: the organization's key, member and plan events, filtered and paginated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from botyard.audit.service import CLI_ACTOR
from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization, Plan
from tests.factories import auth, make_key, make_org, make_user


async def audit(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit-log", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_key_member_and_plan_events_are_listed_newest_first(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    admin, plaintext = await make_key(app, org, ["admin"])
    headers = auth(plaintext)
    member = await make_user(app, org, "member")

    frozen_clock.advance(timedelta(minutes=1))
    created = (
        await client.post("/v1/api-keys", headers=headers, json={"name": "ci", "scopes": ["read"]})
    ).json()
    frozen_clock.advance(timedelta(minutes=1))
    await client.post(
        f"/v1/api-keys/{created['id']}/rotate", headers=headers, json={"grace_period": 0}
    )
    frozen_clock.advance(timedelta(minutes=1))
    await client.patch(f"/v1/team/members/{member.id}", headers=headers, json={"role": "admin"})
    frozen_clock.advance(timedelta(minutes=1))
    async with app.state.sessionmaker() as session:
        stored = await session.get(Organization, org.id)
        assert stored is not None
        await orgs.set_plan(session, stored, Plan.ENTERPRISE, CLI_ACTOR)
        await session.commit()

    events = await audit(client, headers)
    actions = [e["action"] for e in events]
    assert actions[:2] == ["plan.changed", "member.role_changed"]
    # The rotation records its new key and itself at the same instant, in either order.
    assert sorted(actions[2:4]) == ["api_key.created", "api_key.rotated"]
    assert actions[4] == "api_key.created"
    assert actions[-1] == "api_key.created"  # the admin key, made by the factory
    plan = events[0]
    assert plan["object"] == "audit_event"
    assert (plan["actor_type"], plan["actor_id"]) == ("cli", None)
    assert plan["data"] == {"from": "professional", "to": "enterprise"}
    assert plan["created_at"] == rfc3339(frozen_clock.now())
    role = events[1]
    assert (role["actor_type"], role["actor_id"], role["target_id"]) == (
        "api_key",
        admin.id,
        member.id,
    )
    assert role["ip"] is not None
    assert created["key"] not in str(events)


async def test_filters(app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock) -> None:
    org = await make_org(app)
    first_admin, first_plaintext = await make_key(app, org, ["admin"])
    second_admin, second_plaintext = await make_key(app, org, ["admin"])
    start = frozen_clock.now()
    made: list[str] = []
    for hour, plaintext in enumerate((first_plaintext, second_plaintext, first_plaintext)):
        frozen_clock.set(start + timedelta(hours=hour + 1))
        response = await client.post(
            "/v1/api-keys", headers=auth(plaintext), json={"name": f"k{hour}", "scopes": ["read"]}
        )
        made.append(response.json()["id"])
    frozen_clock.set(start + timedelta(hours=4))
    await client.delete(f"/v1/api-keys/{made[0]}", headers=auth(second_plaintext))
    headers = auth(first_plaintext)

    revoked = await audit(client, headers, action="api_key.revoked")
    assert [e["target_id"] for e in revoked] == [made[0]]
    by_second = await audit(client, headers, actor_id=second_admin.id)
    assert {e["target_id"] for e in by_second} == {made[1], made[0]}
    window = await audit(
        client,
        headers,
        action="api_key.created",
        since=rfc3339(start + timedelta(hours=2)),
        until=rfc3339(start + timedelta(hours=3)),
    )
    assert [e["target_id"] for e in window] == [made[1]]
    from_two_hours = await audit(
        client, headers, action="api_key.created", since=rfc3339(start + timedelta(hours=2))
    )
    assert [e["target_id"] for e in from_two_hours] == [made[2], made[1]]
    about_one_key = await audit(client, headers, target_id=made[0])
    assert [e["action"] for e in about_one_key] == ["api_key.revoked", "api_key.created"]
    assert await audit(client, headers, action="nothing.happened") == []
    assert first_admin.id in {e["target_id"] for e in await audit(client, headers)}

    bad = await client.get("/v1/audit-log", headers=headers, params={"since": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "since"


async def test_pagination_walks_every_event_once(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    _, plaintext = await make_key(app, org, ["admin"])
    headers = auth(plaintext)
    for n in range(5):
        await client.post(
            "/v1/api-keys", headers=headers, json={"name": f"k{n}", "scopes": ["read"]}
        )
    everything = await audit(client, headers, limit=100)
    assert len(everything) == 6
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/audit-log", headers=headers, params=params)).json()
        seen.extend(e["id"] for e in page["data"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == [e["id"] for e in everything]


async def test_only_the_callers_organization_and_only_admins(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    mine = await make_org(app)
    theirs = await make_org(app)
    their_key, _ = await make_key(app, theirs, ["admin"])
    _, my_admin = await make_key(app, mine, ["admin"])
    events = await audit(client, auth(my_admin), limit=100)
    assert their_key.id not in str(events)
    assert await audit(client, auth(my_admin), target_id=their_key.id) == []
    _, my_writer = await make_key(app, mine, ["write"])
    refused = await client.get("/v1/audit-log", headers=auth(my_writer))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
