"""Publishable keys: format, required origins, and management with a secret key and the CLI."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from botyard.api_keys import keyformat
from tests.factories import auth, make_bot, make_key, make_org
from tests.widget.support import SHOP, error_code, make_site

PUBLISHABLE = re.compile(r"byp_[0-9A-Za-z]{38}")


async def test_create_gives_a_checksummed_key_of_one_bot_with_its_origins(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    response = await client.post(
        f"/v1/bots/{site.bot.id}/publishable-keys",
        headers=auth(site.secret),
        json={
            "name": "Shop front",
            "allowed_origins": [
                "HTTPS://Shop.Example/",
                "http://localhost:3000",
                "https://*.shop.example:443",
            ],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert PUBLISHABLE.fullmatch(body["key"])
    assert keyformat.format_problem(body["key"], keyformat.PUBLISHABLE_PREFIX) is None
    assert keyformat.checksum(body["key"][:36]) == body["key"][36:]
    assert body["id"].startswith("pk_")
    assert (body["name"], body["bot_id"], body["status"]) == ("Shop front", site.bot.id, "active")
    assert body["allowed_origins"] == [SHOP, "http://localhost:3000", "https://*.shop.example"]
    assert body["revoked_at"] is None and body["created_at"].endswith("Z")

    listed = await client.get(f"/v1/bots/{site.bot.id}/publishable-keys", headers=auth(site.secret))
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["data"]] == [body["id"], site.publishable_id]
    # Not a secret: the key is shown again, any time, for the snippet.
    assert listed.json()["data"][0]["key"] == body["key"]


async def test_origins_are_required_and_must_be_scheme_host_and_port(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    path = f"/v1/bots/{site.bot.id}/publishable-keys"
    missing = await client.post(path, headers=auth(site.secret), json={"name": "x"})
    assert missing.status_code == 422
    for origins in (
        [],
        ["shop.example"],
        ["https://shop.example/checkout"],
        ["ftp://shop.example"],
        ["https://shop.example:99999"],
        ["https://*"],
        ["https://a.*.example"],
    ):
        refused = await client.post(
            path, headers=auth(site.secret), json={"allowed_origins": origins}
        )
        assert refused.status_code == 422, (origins, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "invalid_allowed_origins" and error["param"] == "allowed_origins"


async def test_revoke_and_rotate(app: FastAPI, client: httpx.AsyncClient) -> None:
    site = await make_site(app)
    base = f"/v1/bots/{site.bot.id}/publishable-keys"
    assert (await client.get("/v1/widget/config", headers=site.headers())).status_code == 200

    rotated = await client.post(f"{base}/{site.publishable_id}/rotate", headers=auth(site.secret))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["key"] != site.publishable and new["allowed_origins"] == [SHOP]
    assert new["name"] == "Shop" and new["rotated_from"] == site.publishable_id
    old = await client.get("/v1/widget/config", headers=site.headers())
    assert (old.status_code, error_code(old)) == (401, "api_key_revoked")
    fresh = await client.get("/v1/widget/config", headers={**auth(new["key"]), "Origin": SHOP})
    assert fresh.status_code == 200
    again = await client.post(f"{base}/{site.publishable_id}/rotate", headers=auth(site.secret))
    assert (again.status_code, error_code(again)) == (409, "key_revoked")

    revoked = await client.delete(f"{base}/{new['id']}", headers=auth(site.secret))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    refused = await client.get("/v1/widget/config", headers={**auth(new["key"]), "Origin": SHOP})
    assert (refused.status_code, error_code(refused)) == (401, "api_key_revoked")
    twice = await client.delete(f"{base}/{new['id']}", headers=auth(site.secret))
    assert twice.json()["revoked_at"] == revoked.json()["revoked_at"]

    audit = await client.get("/v1/audit-log", headers=auth(site.secret))
    actions = {e["action"] for e in audit.json()["data"]}
    assert {
        "publishable_key.created",
        "publishable_key.rotated",
        "publishable_key.revoked",
    } <= actions


async def test_another_organizations_bot_and_key_are_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    other_org = await make_org(app)
    _, other_secret = await make_key(app, other_org, ["write"])
    other_bot = await make_bot(app, other_org)
    base = f"/v1/bots/{site.bot.id}/publishable-keys"
    for response in (
        await client.get(base, headers=auth(other_secret)),
        await client.post(base, headers=auth(other_secret), json={"allowed_origins": [SHOP]}),
        await client.delete(
            f"/v1/bots/{other_bot.id}/publishable-keys/{site.publishable_id}",
            headers=auth(other_secret),
        ),
    ):
        assert response.status_code == 404, response.text


async def test_identity_secret_is_sealed_at_rest_and_rotates(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    path = f"/v1/bots/{site.bot.id}/identity-secret"
    first = await client.get(path, headers=auth(site.secret))
    assert first.status_code == 200, first.text
    secret = first.json()["identity_secret"]
    assert len(secret) >= 32
    assert (await client.get(path, headers=auth(site.secret))).json()["identity_secret"] == secret
    async with app.state.sessionmaker() as session:
        from botyard.bots.models import Bot

        stored = (await session.get(Bot, site.bot.id)).identity_secret_sealed  # type: ignore[union-attr]
    assert stored and secret not in stored
    rotated = await client.post(f"{path}/rotate", headers=auth(site.secret))
    assert rotated.status_code == 200 and rotated.json()["identity_secret"] != secret
