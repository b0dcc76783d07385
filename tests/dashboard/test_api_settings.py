"""Settings > API over HTTP: generate, show once, list, revoke, rotate, roles and plans."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from botyard.audit.models import AuditEvent
from botyard.core import clock
from tests.dashboard.helpers import KEY_PATTERN, keys_of, login
from tests.factories import auth, make_key, make_org, make_user

GENERATE = "/dashboard/settings/api/keys"


async def test_page_follows_the_guide(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    await login(client, await make_user(app, org, "admin"))
    page = (await client.get("/dashboard/settings/api")).text
    assert "Generate New API Key" in page
    assert 'placeholder="Website Integration"' in page
    for scope, description in (
        ("Read", "View bots, conversations, and analytics"),
        ("Write", "Create and modify bots and settings"),
        ("Admin", "Full access including team management"),
    ):
        assert f"<strong>{scope}</strong>" in page
        assert description in page
    for choice in ("never", "30", "90", "180", "365"):
        assert f'<option value="{choice}"' in page
    assert "Professional</strong> plan" in page
    assert "API access included" in page
    assert "1,000</strong> requests per hour" in page


async def test_generated_key_is_shown_once_and_works(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    csrf = await login(client, owner)
    response = await client.post(
        GENERATE,
        data={
            "csrf_token": csrf,
            "name": "Website Integration",
            "scopes": "read",
            "expires": "90",
        },
    )
    assert response.status_code == 200
    shown = set(KEY_PATTERN.findall(response.text))
    assert len(shown) == 1
    [plaintext] = shown
    assert "it will not be shown again" in response.text
    assert 'data-copy-target="new-key-value"' in response.text
    assert (await client.get("/v1/bots", headers=auth(plaintext))).status_code == 200

    [key] = await keys_of(app, org)
    assert key.name == "Website Integration" and key.scopes == ["read"]
    assert key.expires_at is not None
    assert timedelta(days=89) < key.expires_at - clock.now() <= timedelta(days=90)

    reloaded = await client.get("/dashboard/settings/api")
    assert plaintext not in reloaded.text
    assert not KEY_PATTERN.search(reloaded.text)
    assert key.hint in reloaded.text
    assert owner.email in reloaded.text  # created by


async def test_generate_form_errors_are_shown_in_the_form(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "owner"))
    no_scope = await client.post(GENERATE, data={"csrf_token": csrf, "name": "CI"})
    assert no_scope.status_code == 400
    assert "Choose at least one scope" in no_scope.text
    no_name = await client.post(GENERATE, data={"csrf_token": csrf, "name": " ", "scopes": "read"})
    assert no_name.status_code == 400
    assert "Key name must be 1 to 100 characters." in no_name.text
    bad_expiry = await client.post(
        GENERATE, data={"csrf_token": csrf, "name": "CI", "scopes": "read", "expires": "7"}
    )
    assert bad_expiry.status_code == 400
    assert await keys_of(app, org) == []


async def test_revoke_asks_first_then_is_immediate(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    key, plaintext = await make_key(app, org)
    csrf = await login(client, await make_user(app, org, "owner"))
    confirm = await client.get(f"/dashboard/settings/api/keys/{key.id}/revoke")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.text
    assert (await client.get("/v1/bots", headers=auth(plaintext))).status_code == 200
    done = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/revoke", data={"csrf_token": csrf}
    )
    assert done.status_code == 303
    page = await client.get(done.headers["location"])
    assert f"Revoked “{key.name}”" in page.text
    refused = await client.get("/v1/bots", headers=auth(plaintext))
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"


async def test_rotate_shows_the_new_key_once_and_keeps_the_old_for_the_grace(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    key, old_plaintext = await make_key(app, org, scopes=["write"])
    csrf = await login(client, await make_user(app, org, "admin"))
    form = await client.get(f"/dashboard/settings/api/keys/{key.id}/rotate")
    assert re.search(r'value="24h"\s+checked', form.text)
    response = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/rotate", data={"csrf_token": csrf, "grace": "1h"}
    )
    assert response.status_code == 200
    [new_plaintext] = set(KEY_PATTERN.findall(response.text))
    assert new_plaintext != old_plaintext
    assert "keeps working until" in response.text
    for plaintext in (old_plaintext, new_plaintext):
        assert (await client.get("/v1/bots", headers=auth(plaintext))).status_code == 200
    rows = {k.id: k for k in await keys_of(app, org)}
    old = rows[key.id]
    assert old.expires_at is not None
    assert timedelta(minutes=59) < old.expires_at - clock.now() <= timedelta(hours=1)
    assert rows[old.rotated_to or ""].scopes == ["write"]


async def test_rotate_with_no_grace_revokes_the_old_key_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    key, old_plaintext = await make_key(app, org)
    csrf = await login(client, await make_user(app, org, "owner"))
    await client.post(
        f"/dashboard/settings/api/keys/{key.id}/rotate", data={"csrf_token": csrf, "grace": "0"}
    )
    refused = await client.get("/v1/bots", headers=auth(old_plaintext))
    assert refused.json()["error"]["code"] == "api_key_revoked"


async def test_audit_records_the_user_and_address(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    owner = await make_user(app, org, "owner")
    csrf = await login(client, owner)
    await client.post(GENERATE, data={"csrf_token": csrf, "name": "Audit me", "scopes": "read"})
    async with app.state.sessionmaker() as session:
        [event] = (
            await session.scalars(select(AuditEvent).where(AuditEvent.organization_id == org.id))
        ).all()
    assert (event.action, event.actor_type, event.actor_id) == ("api_key.created", "user", owner.id)
    assert event.ip and event.ip.startswith("198.18.")
    audit_page = await client.get("/dashboard/audit")
    assert "API key created" in audit_page.text
    assert owner.email in audit_page.text


async def test_member_sees_why_and_cannot_post(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    key, _ = await make_key(app, org)
    csrf = await login(client, await make_user(app, org, "member"))
    page = await client.get("/dashboard/settings/api")
    assert page.status_code == 200
    assert 'id="generate-form"' not in page.text
    assert "Only Admins and Owners manage API keys." in page.text
    assert key.hint in page.text  # the list is visible, its actions are not
    assert f"/dashboard/settings/api/keys/{key.id}/revoke" not in page.text
    for path, data in (
        (GENERATE, {"name": "Sneaky", "scopes": "admin"}),
        (f"/dashboard/settings/api/keys/{key.id}/revoke", {}),
        (f"/dashboard/settings/api/keys/{key.id}/rotate", {"grace": "0"}),
    ):
        refused = await client.post(path, data={**data, "csrf_token": csrf})
        assert refused.status_code == 403, path
        assert "Only Admins and Owners" in refused.text
    assert [k.id for k in await keys_of(app, org)] == [key.id]
    [stored] = await keys_of(app, org)
    assert stored.revoked_at is None and stored.rotated_to is None


async def test_starter_plan_names_the_professional_plan_and_refuses_posts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app, plan="starter")
    csrf = await login(client, await make_user(app, org, "owner"))
    page = await client.get("/dashboard/settings/api")
    assert 'id="generate-form"' not in page.text
    assert "The Professional plan is required for API access" in page.text
    assert "Starter plan" in page.text
    refused = await client.post(GENERATE, data={"csrf_token": csrf, "name": "X", "scopes": "read"})
    assert refused.status_code == 403
    assert "Professional plan" in refused.text
    assert await keys_of(app, org) == []


async def test_starter_plan_can_still_revoke_a_leftover_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app, plan="starter")
    key, _ = await make_key(app, org)
    csrf = await login(client, await make_user(app, org, "owner"))
    rotate = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/rotate", data={"csrf_token": csrf}
    )
    assert rotate.status_code == 403
    revoke = await client.post(
        f"/dashboard/settings/api/keys/{key.id}/revoke", data={"csrf_token": csrf}
    )
    assert revoke.status_code == 303


async def test_another_organizations_key_is_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    mine, theirs = await make_org(app), await make_org(app)
    their_key, plaintext = await make_key(app, theirs)
    csrf = await login(client, await make_user(app, mine, "owner"))
    for method, path in (
        ("GET", f"/dashboard/settings/api/keys/{their_key.id}/revoke"),
        ("POST", f"/dashboard/settings/api/keys/{their_key.id}/revoke"),
        ("POST", f"/dashboard/settings/api/keys/{their_key.id}/rotate"),
    ):
        response = await client.request(method, path, data={"csrf_token": csrf})
        assert response.status_code == 404, path
    assert (await client.get("/v1/bots", headers=auth(plaintext))).status_code == 200
    assert their_key.hint not in (await client.get("/dashboard/settings/api")).text


async def test_usage_shows_the_organizations_current_count(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app, rate_limit=50)
    _, plaintext = await make_key(app, org)
    await login(client, await make_user(app, org, "member"))
    for _ in range(3):
        last = await client.get("/v1/bots", headers=auth(plaintext))
    used = last.headers["x-ratelimit-used"]
    page = await client.get("/dashboard/settings/api")
    assert f'id="usage-used">{used}<' in page.text
    assert "<strong>50</strong> requests per hour" in page.text
    assert "47 left" in page.text


async def test_warnings_and_last_use_are_listed(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: clock.FrozenClock
) -> None:
    org = await make_org(app)
    idle, _ = await make_key(app, org, name="Idle key")
    used, plaintext = await make_key(app, org, name="Busy key")
    frozen_clock.advance(timedelta(days=8))
    assert (await client.get("/v1/bots", headers=auth(plaintext))).status_code == 200
    await app.state.request_log.flush()
    await login(client, await make_user(app, org, "owner"))
    page = (await client.get("/dashboard/settings/api")).text
    idle_row = page[page.index(f'id="{idle.id}"') :].split("</tr>")[0]
    used_row = page[page.index(f'id="{used.id}"') :].split("</tr>")[0]
    assert "Unused" in idle_row and "never been used" in idle_row
    assert "Unused" not in used_row
    assert "198.18." in used_row  # last used from the client's address
    assert "command line" in idle_row  # created by
