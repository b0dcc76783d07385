"""Issue 17.11: refused requests (no key, revoked, expired, blocked address, plan, scope, a key
in the URL) were never throttled and each wrote a request-log row (1,000 a second seen).

Now every 401 and 403 counts against the client's address (429 with Retry-After past the
limit), and past a per-address threshold a refused unauthenticated request is counted
instead of written as a row of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey
from botyard.audit.service import CLI_ACTOR
from botyard.core import clock
from botyard.requestlog.refusals import refused_request_counts
from tests.conftest import fresh_ip
from tests.factories import auth, make_key, make_org
from tests.security.support import app_with, client_from
from tests.widget.support import ELSEWHERE, SHOP, make_site

FAILURE_LIMIT = 5
ROWS_PER_ADDRESS = 3


@pytest.fixture(scope="module")
async def strict_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with app_with(
        database_url,
        auth_failure_limit=FAILURE_LIMIT,
        refused_log_per_address=ROWS_PER_ADDRESS,
    ) as application:
        yield application


async def _revoked_key(app: FastAPI, org: object) -> str:
    row, plaintext = await make_key(app, org)  # type: ignore[arg-type]
    async with app.state.sessionmaker() as session:
        await keys.revoke(
            session, await keys.get_key(session, row.organization_id, row.id), CLI_ACTOR
        )
        await session.commit()
    return plaintext


Refusal = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _refusals(app: FastAPI) -> dict[str, Refusal]:
    """One way to be refused per cause, each answering 401 or 403."""
    org = await make_org(app)
    revoked = await _revoked_key(app, org)
    expired_row, expired = await make_key(app, org, expires_at=clock.now() + timedelta(hours=1))
    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, expired_row.id)
        assert stored is not None
        stored.expires_at = clock.now() - timedelta(minutes=1)
        await session.commit()
    _, blocked = await make_key(app, org, allowed_ips=["192.0.2.0/24"])
    _, free_plan = await make_key(app, await make_org(app, plan="free"))
    _, read_only = await make_key(app, org, scopes=["read"])
    site = await make_site(app)
    return {
        "missing_api_key": lambda c: c.get("/v1/me"),
        "malformed_authorization_header": lambda c: c.get(
            "/v1/me", headers={"Authorization": "Basic abc"}
        ),
        "api_key_revoked": lambda c: c.get("/v1/me", headers=auth(revoked)),
        "api_key_expired": lambda c: c.get("/v1/me", headers=auth(expired)),
        "ip_not_allowed": lambda c: c.get("/v1/me", headers=auth(blocked)),
        "plan_required": lambda c: c.get("/v1/me", headers=auth(free_plan)),
        "missing_scope": lambda c: c.post("/v1/bots", json={"name": "x"}, headers=auth(read_only)),
        "api_key_in_url": lambda c: c.get(f"/v1/bots?api_key={read_only}"),
        "origin_not_allowed": lambda c: c.get(
            "/v1/widget/config", headers=site.headers(origin=ELSEWHERE)
        ),
        "secret_key_in_browser": lambda c: c.get(
            "/v1/widget/config", headers={**auth(read_only), "Origin": SHOP}
        ),
    }


async def test_every_refusal_is_throttled_per_address(strict_app: FastAPI) -> None:
    app = strict_app
    org = await make_org(app)
    _, good = await make_key(app, org)
    site = await make_site(app)
    for code, refuse in (await _refusals(app)).items():
        address = fresh_ip()
        async with client_from(app, address) as c:
            answers = [await refuse(c) for _ in range(FAILURE_LIMIT + 2)]
            for answer in answers[:FAILURE_LIMIT]:
                assert answer.status_code in (401, 403), (code, answer.text)
                assert answer.json()["error"]["code"] == code
            for answer in answers[FAILURE_LIMIT:]:
                assert answer.status_code == 429, (code, answer.text)
                assert answer.json()["error"]["code"] == "rate_limit_exceeded"
                assert 0 < int(answer.headers["retry-after"]) <= 3600
            # A valid key still works from the throttled address.
            assert (await c.get("/v1/me", headers=auth(good))).status_code == 200
            assert (await c.get("/v1/widget/config", headers=site.headers())).status_code == 200
        # Other addresses are untouched.
        async with client_from(app, fresh_ip()) as other:
            assert (await refuse(other)).status_code in (401, 403), code


async def test_refused_requests_past_the_threshold_are_counted_not_logged(
    strict_app: FastAPI,
) -> None:
    app = strict_app
    org = await make_org(app)
    revoked = await _revoked_key(app, org)
    _, admin = await make_key(app, org, scopes=["admin"])
    hammering, other = fresh_ip(), fresh_ip()
    before = refused_request_counts()

    async with client_from(app, hammering) as c:
        statuses = [(await c.get("/v1/bots", headers=auth(revoked))).status_code for _ in range(40)]
    assert statuses == [401] * FAILURE_LIMIT + [429] * (40 - FAILURE_LIMIT)
    async with client_from(app, other) as c:
        assert (await c.get("/v1/bots", headers=auth(revoked))).status_code == 401

    after = refused_request_counts()
    assert after["logged"] - before["logged"] == ROWS_PER_ADDRESS + 1
    assert after["aggregated"] - before["aggregated"] == 40 - ROWS_PER_ADDRESS

    await app.state.request_log.flush()
    async with client_from(app, fresh_ip()) as c:
        rows = (await c.get("/v1/logs?limit=100", headers=auth(admin))).json()["data"]
        # Authenticated requests are all logged, whatever the address did before.
        async with client_from(app, hammering) as same_address:
            for _ in range(ROWS_PER_ADDRESS + 2):
                assert (await same_address.get("/v1/me", headers=auth(admin))).status_code == 200
        await app.state.request_log.flush()
        later = (await c.get("/v1/logs?limit=100", headers=auth(admin))).json()["data"]
    from_hammering = [r for r in rows if r["ip"] == hammering]
    assert len(from_hammering) == ROWS_PER_ADDRESS
    assert [r["ip"] for r in rows].count(other) == 1
    ok_rows = [r for r in later if r["ip"] == hammering and r["status"] == 200]
    assert len(ok_rows) == ROWS_PER_ADDRESS + 2
