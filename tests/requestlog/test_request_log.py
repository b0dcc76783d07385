"""Every /v1 request leaves one row, written off the request path and kept on clean shutdown."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text

from botyard.api_keys import keyformat
from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey, ApiKeyAddress
from botyard.audit.service import CLI_ACTOR
from botyard.core.clock import FrozenClock
from botyard.requestlog.models import RequestLog
from tests.conftest import fresh_ip
from tests.factories import auth, make_bot, make_key, make_org
from tests.requestlog.support import client_from, running_app

USER_AGENT = "BotyardTest/1.0 (request log)"


async def revoke(app: FastAPI, key: ApiKey) -> None:
    async with app.state.sessionmaker() as session:
        row = await keys.get_key(session, key.organization_id, key.id)
        await keys.revoke(session, row, CLI_ACTOR)
        await session.commit()


async def test_n_requests_leave_exactly_n_rows_after_a_clean_shutdown(database_url: str) -> None:
    ip = fresh_ip()
    async with running_app(database_url) as app:
        org = await make_org(app)
        bot = await make_bot(app, org)
        key_row, key = await make_key(app, org, ["read"])
        revoked_row, revoked = await make_key(app, org, ["read"])
        await revoke(app, revoked_row)
        calls: list[tuple[str, str, dict[str, str]]] = [
            ("GET", "/v1/me", auth(key)),
            ("GET", f"/v1/bots/{bot.id}", auth(key)),
            ("GET", "/v1/bots/bot_00000000000000000000", auth(key)),
            ("GET", "/v1/logs", auth(key)),
            ("POST", "/v1/bots", auth(key)),
            ("GET", "/v1/rate_limit", auth(key)),
            ("GET", "/v1/me", auth(keyformat.generate())),
            ("GET", "/v1/me", auth(key[:-1] + ("x" if key[-1] != "x" else "y"))),
            ("GET", "/v1/me", {}),
            ("GET", f"/v1/bots?api_key={key}", {}),
            ("GET", "/v1/me", auth(revoked)),
            ("GET", "/v1/no-such-route", auth(key)),
        ] * 3
        responses: dict[str, httpx.Response] = {}
        async with client_from(app, ip, **{"User-Agent": USER_AGENT}) as client:
            for method, url, headers in calls:
                body = {"name": "x"} if method == "POST" else None
                response = await client.request(method, url, headers=headers, json=body)
                responses[response.headers["x-request-id"]] = response
            # Nothing was written on the request path: it all waits for the batch.
            assert app.state.request_log.pending >= len(calls)
            used = (await client.get("/v1/rate_limit", headers=auth(key))).json()["rate_limit"]
        sessionmaker = app.state.sessionmaker

    async with sessionmaker() as session:
        rows = list((await session.scalars(select(RequestLog).where(RequestLog.ip == ip))).all())
    assert len(rows) == len(calls) + 1  # the calls, and the last GET /v1/rate_limit
    by_request = {r.request_id: r for r in rows}
    assert set(responses) <= set(by_request)

    for request_id, response in responses.items():
        row = by_request[request_id]
        assert row.status == response.status_code
        assert row.method == response.request.method
        assert row.ip == ip
        assert row.user_agent == USER_AGENT
        assert row.latency_ms > 0
        error = response.json().get("error") if response.status_code >= 400 else None
        assert row.error_code == (error["code"] if error else None)

    def rows_for(url: str) -> list[RequestLog]:
        ids = [rid for rid, r in responses.items() if str(r.request.url).endswith(url)]
        assert ids, url
        return [by_request[rid] for rid in ids]

    for row in rows_for(f"/v1/bots/{bot.id}"):
        assert (row.route, row.status, row.error_code) == ("/v1/bots/{bot_id}", 200, None)
        assert (row.key_id, row.organization_id) == (key_row.id, org.id)
    for row in rows_for("/v1/bots/bot_00000000000000000000"):
        assert (row.route, row.status) == ("/v1/bots/{bot_id}", 404)
    for row in rows_for("/v1/no-such-route"):
        assert row.route == "(no route)" and row.status == 404
    unknown = [r for r in rows if r.error_code == "unknown_api_key"]
    assert len(unknown) == 3
    assert all(r.key_id is None and r.organization_id is None for r in unknown)
    refused_revoked = [r for r in rows if r.error_code == "api_key_revoked"]
    assert [(r.key_id, r.organization_id) for r in refused_revoked] == [
        (revoked_row.id, org.id)
    ] * 3
    in_url = [r for r in rows if r.error_code == "api_key_in_url"]
    assert [r.key_id for r in in_url] == [key_row.id] * 3
    # A key in the URL may be refused before routing; either way the URL itself is not kept.
    assert all(r.route in {"/v1/bots", "(no route)"} for r in in_url)

    # Failed authentication is logged but never charged: only the calls that got past
    # authentication count (/v1/me, the bot, the missing bot, and two missing-scope refusals).
    assert used["used"] == 5 * 3


async def test_no_row_of_any_table_contains_the_key(database_url: str) -> None:
    ip = fresh_ip()
    async with running_app(database_url) as app:
        org = await make_org(app)
        _, key = await make_key(app, org, ["admin"])
        async with client_from(app, ip, **{"User-Agent": USER_AGENT}) as client:
            await client.get("/v1/me", headers=auth(key))
            await client.get(f"/v1/me?token={key}")
            await client.get(f"/v1/bots?key={key}", headers=auth(key))
            await client.get("/v1/logs", headers=auth(key))
            await client.get(f"/v1/{key}", headers=auth(key))
            await client.get("/v1/me", headers={"Authorization": f"Bearer {key} {key}"})
        engine = app.state.engine

    secret = key[len(keyformat.PREFIX) :]
    async with engine.connect() as connection:
        for table in ("request_logs", "api_keys", "api_key_addresses", "audit_events"):
            for row in (await connection.execute(text(f"SELECT * FROM {table}"))).all():
                for value in row:
                    assert secret not in str(value), f"the key is stored in {table}"
        logged = (
            await connection.execute(
                text("SELECT count(*) FROM request_logs WHERE ip = :ip"), {"ip": ip}
            )
        ).scalar_one()
    assert logged == 6


async def test_last_used_at_and_ip_are_kept_from_the_batch(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    key_row, key = await make_key(app, org)
    first, second, third = "192.0.2.10", "192.0.2.20", "192.0.2.30"
    started = frozen_clock.now()
    async with client_from(app, first) as a, client_from(app, second) as b:
        assert (await a.get("/v1/me", headers=auth(key))).status_code == 200
        frozen_clock.advance(timedelta(minutes=5))
        assert (await b.get("/v1/me", headers=auth(key))).status_code == 200
        frozen_clock.advance(timedelta(minutes=1))
        assert (await a.get("/v1/me", headers=auth(key))).status_code == 200
    frozen_clock.advance(timedelta(minutes=1))
    async with client_from(app, third) as c:  # a refused use is not a use
        assert (await c.get(f"/v1/me?api_key={key}")).status_code == 401

    await app.state.request_log.flush()

    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, key_row.id)
        assert stored is not None
        assert stored.last_used_at == started + timedelta(minutes=6)
        assert stored.last_used_ip == first
        assert stored.exposed_in_url_at == started + timedelta(minutes=7)
        addresses = {
            a.ip: (a.first_seen_at, a.last_seen_at)
            for a in (
                await session.scalars(
                    select(ApiKeyAddress).where(ApiKeyAddress.key_id == key_row.id)
                )
            ).all()
        }
    assert addresses == {
        first: (started, started + timedelta(minutes=6)),
        second: (started + timedelta(minutes=5), started + timedelta(minutes=5)),
    }

    # A later batch moves last use forward and never backwards.
    frozen_clock.advance(timedelta(hours=1))
    async with client_from(app, second) as b:
        await b.get("/v1/me", headers=auth(key))
    await app.state.request_log.flush()
    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, key_row.id)
        assert stored is not None
        assert (stored.last_used_at, stored.last_used_ip) == (
            started + timedelta(minutes=67),
            second,
        )
