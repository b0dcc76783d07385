"""Issue 17.8: X-Forwarded-For is believed only from BOTYARD_TRUSTED_PROXIES.

A client that writes the header itself must not pick the address that the key's IP allow-list,
the brute-force limit, the request log and the audit log see; a proxy on the list must."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth, make_key, make_org
from tests.security.support import app_with, client_from, serve_sqlite

ALLOWED = "203.0.113.7"  # inside the key's allow-list
ATTACKER = "198.51.100.66"
GUESSER = "198.51.100.67"
PROXY = "10.20.30.40"
BAD_KEY = "byk_" + "A" * 38
FAILURE_LIMIT = 3


@pytest.fixture(scope="module")
async def default_app(database_url: str) -> AsyncIterator[FastAPI]:
    """No trusted proxy configured (the default)."""
    async with app_with(database_url, auth_failure_limit=FAILURE_LIMIT) as application:
        yield application


@pytest.fixture(scope="module")
async def proxied_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with app_with(
        database_url, trusted_proxies="10.0.0.0/8", auth_failure_limit=FAILURE_LIMIT
    ) as application:
        yield application


async def _logged_ips(app: FastAPI, c: httpx.AsyncClient, admin_key: str) -> list[str]:
    """The addresses of the organization's request-log rows, read as its admin would."""
    await app.state.request_log.flush()
    response = await c.get("/v1/logs", headers={**auth(admin_key), "X-Forwarded-For": ALLOWED})
    assert response.status_code == 200, response.text
    return [row["ip"] for row in response.json()["data"]]


async def test_spoofed_header_from_an_untrusted_peer_changes_nothing(default_app: FastAPI) -> None:
    app = default_app
    org = await make_org(app)
    _, allow_listed = await make_key(app, org, allowed_ips=["203.0.113.0/24"])
    _, admin = await make_key(app, org, scopes=["admin"], allowed_ips=["203.0.113.0/24"])
    spoof = {"X-Forwarded-For": ALLOWED, "X-Forwarded-Proto": "https"}

    async with client_from(app, ATTACKER) as attacker:
        refused = await attacker.get("/v1/bots", headers={**auth(allow_listed), **spoof})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "ip_not_allowed"
        assert ATTACKER in refused.json()["error"]["message"]

    async with client_from(app, GUESSER) as attacker:
        # The brute-force limit counts the real peer, whatever address each guess claims.
        statuses = [
            (
                await attacker.get(
                    "/v1/me",
                    headers={**auth(BAD_KEY), "X-Forwarded-For": f"192.0.2.{n}"},
                )
            ).status_code
            for n in range(FAILURE_LIMIT + 2)
        ]
    assert statuses[:FAILURE_LIMIT] == [401] * FAILURE_LIMIT
    assert statuses[FAILURE_LIMIT:] == [429, 429]

    # A change made with a spoofed header is audited with the peer's address.
    async with client_from(app, ALLOWED) as c:
        created = await c.post(
            "/v1/api-keys",
            json={"name": "made through a spoofed header", "scopes": ["read"]},
            headers={**auth(admin), "X-Forwarded-For": "192.0.2.99"},
        )
        assert created.status_code == 201, created.text
        audit = (await c.get("/v1/audit-log", headers=auth(admin))).json()["data"]
    assert audit[0]["action"] == "api_key.created"
    assert audit[0]["ip"] == ALLOWED

    async with client_from(app, ALLOWED) as c:
        logged = await _logged_ips(app, c, admin)
    assert ATTACKER in logged and ALLOWED in logged
    assert "192.0.2.99" not in logged and not any(ip.startswith("192.0.2.") for ip in logged)


async def test_the_header_from_a_trusted_proxy_is_honoured(proxied_app: FastAPI) -> None:
    app = proxied_app
    org = await make_org(app)
    _, allow_listed = await make_key(app, org, allowed_ips=["203.0.113.0/24"])
    _, admin = await make_key(app, org, scopes=["admin"])

    async with client_from(app, PROXY) as proxy:
        # The proxy appends the address it saw: the client is the rightmost untrusted entry.
        forwarded = await proxy.get(
            "/v1/bots", headers={**auth(allow_listed), "X-Forwarded-For": ALLOWED}
        )
        assert forwarded.status_code == 200, forwarded.text
        # A client that wrote its own header in front of the proxy's entry gains nothing.
        prefixed = await proxy.get(
            "/v1/bots",
            headers={**auth(allow_listed), "X-Forwarded-For": f"{ALLOWED}, {ATTACKER}"},
        )
        assert prefixed.status_code == 403
        assert ATTACKER in prefixed.json()["error"]["message"]

        created = await proxy.post(
            "/v1/api-keys",
            json={"name": "made behind the proxy", "scopes": ["read"]},
            headers={**auth(admin), "X-Forwarded-For": f"{ALLOWED}, 10.9.9.9"},
        )
        assert created.status_code == 201, created.text
        audit = (
            await proxy.get("/v1/audit-log", headers={**auth(admin), "X-Forwarded-For": ALLOWED})
        ).json()["data"]
        assert audit[0]["ip"] == ALLOWED

        # Each forwarded client address has a brute-force budget of its own.
        guesses = {
            client: [
                (
                    await proxy.get("/v1/me", headers={**auth(BAD_KEY), "X-Forwarded-For": client})
                ).status_code
                for _ in range(FAILURE_LIMIT + 1)
            ]
            for client in ("192.0.2.1", "192.0.2.2")
        }
    assert guesses == {c: [401] * FAILURE_LIMIT + [429] for c in ("192.0.2.1", "192.0.2.2")}

    # A peer outside the trusted networks is not believed even by the proxied app.
    async with client_from(app, ATTACKER) as attacker:
        spoofed = await attacker.get(
            "/v1/bots", headers={**auth(allow_listed), "X-Forwarded-For": ALLOWED}
        )
    assert spoofed.status_code == 403

    async with client_from(app, PROXY) as proxy:
        logged = await _logged_ips(app, proxy, admin)
    assert ALLOWED in logged and ATTACKER in logged
    assert PROXY not in logged


@pytest.mark.slow
@pytest.mark.parametrize("trusted", ["", "127.0.0.1"], ids=["no-proxy", "local-proxy"])
def test_botyard_serve_believes_only_configured_proxies(
    trusted: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """uvicorn on its own believes X-Forwarded-For from any local peer: ``botyard serve`` must
    not, or guesses sent from the same host each claim a fresh address and are never limited."""
    directory = tmp_path_factory.mktemp("serve-forwarded")
    serve = serve_sqlite(directory, trusted_proxies=trusted, auth_failure_limit=str(FAILURE_LIMIT))
    server = next(serve)
    try:
        statuses = [
            httpx.get(
                server.url + "/v1/me",
                headers={**auth(BAD_KEY), "X-Forwarded-For": f"192.0.2.{n}"},
                timeout=10,
            ).status_code
            for n in range(FAILURE_LIMIT + 2)
        ]
    finally:
        serve.close()
    if trusted:
        assert statuses == [401] * (FAILURE_LIMIT + 2)
    else:
        assert statuses == [401] * FAILURE_LIMIT + [429, 429]


async def test_cookies_are_secure_only_when_a_trusted_proxy_says_https(
    default_app: FastAPI, proxied_app: FastAPI
) -> None:
    """A trusted proxy's X-Forwarded-Proto: https makes the login cookies Secure; the same
    header from any other peer (even 127.0.0.1, with no proxy configured) does not."""
    https = {"X-Forwarded-Proto": "https"}
    async with client_from(proxied_app, PROXY) as proxy:
        cookie = (await proxy.get("/dashboard/login", headers=https)).headers["set-cookie"]
        assert "; secure" in cookie.lower()
    for app, peer in ((default_app, "127.0.0.1"), (proxied_app, ATTACKER)):
        async with client_from(app, peer) as direct:
            cookie = (await direct.get("/dashboard/login", headers=https)).headers["set-cookie"]
            assert "; secure" not in cookie.lower(), peer
