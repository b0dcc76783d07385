"""Identity verification: HMAC-SHA256 of the site's user id with the bot's identity secret."""

from __future__ import annotations

import hashlib
import hmac

import httpx
from fastapi import FastAPI

from tests.factories import auth
from tests.widget.support import error_code, make_site, start


def user_hash(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


async def identity_secret(client: httpx.AsyncClient, site: object) -> str:
    response = await client.get(
        f"/v1/bots/{site.bot.id}/identity-secret",  # type: ignore[attr-defined]
        headers=auth(site.secret),  # type: ignore[attr-defined]
    )
    assert response.status_code == 200, response.text
    return str(response.json()["identity_secret"])


async def test_required_identity_needs_a_matching_hash(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app, identity_verification=True)
    secret = await identity_secret(client, site)
    config = (await client.get("/v1/widget/config", headers=site.headers())).json()
    assert config["identity_required"] is True

    path = "/v1/widget/conversations"
    for body in (
        None,
        {"external_user_id": "user-42"},
        {"external_user_id": "user-42", "user_hash": user_hash(secret, "user-43")},
        {"external_user_id": "user-42", "user_hash": user_hash("wrong secret", "user-42")},
    ):
        refused = await client.post(path, headers=site.headers(), json=body)
        assert (refused.status_code, error_code(refused)) == (403, "identity_verification_failed")
        assert secret not in refused.text

    started = await start(
        client, site, external_user_id="user-42", user_hash=user_hash(secret, "user-42")
    )
    assert started["conversation"]["external_user_id"] == "user-42"


async def test_optional_identity_is_stored_only_when_verified(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    anonymous = await start(client, site)
    assert anonymous["conversation"]["external_user_id"] is None
    claimed = await client.post(
        "/v1/widget/conversations",
        headers=site.headers(),
        json={"external_user_id": "admin", "user_hash": "0" * 64},
    )
    assert (claimed.status_code, error_code(claimed)) == (403, "identity_verification_failed")
    secret = await identity_secret(client, site)
    verified = await start(
        client, site, external_user_id="ünïcode", user_hash=user_hash(secret, "ünïcode")
    )
    assert verified["conversation"]["external_user_id"] == "ünïcode"
