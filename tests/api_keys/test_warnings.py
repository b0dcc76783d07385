"""Key hygiene warnings, each driven by moving a frozen clock, never by sleeping.

Uses come from real requests through the app and its request-log batches where the
warning is about use (new_ip, revoked_key_in_use, exposed_in_url, last use), and from
seeded log rows for hourly volumes (spike).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event

from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey
from botyard.api_keys.warnings import warnings_for
from botyard.audit.service import CLI_ACTOR
from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from botyard.organizations.models import Organization
from tests.factories import auth, make_key, make_org
from tests.requestlog.support import client_from, log_row, seed_logs

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


async def warnings_of(app: FastAPI, key: ApiKey, now: Any) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as session:
        fresh = await session.get(ApiKey, key.id)
        assert fresh is not None
        return (await warnings_for(session, [fresh], now))[key.id]


async def codes(app: FastAPI, key: ApiKey, clock: FrozenClock) -> list[str]:
    return [w["code"] for w in await warnings_of(app, key, clock.now())]


async def message(app: FastAPI, key: ApiKey, clock: FrozenClock, code: str) -> str:
    found = [w for w in await warnings_of(app, key, clock.now()) if w["code"] == code]
    assert len(found) == 1, found
    return str(found[0]["message"])


async def use(app: FastAPI, plaintext: str, ip: str = "192.0.2.50", **params: str) -> int:
    """One request with the key, then the batch written, as the server does every second."""
    async with client_from(app, ip) as client:
        response = await client.get(
            "/v1/me", headers=auth(plaintext) if not params else {}, params=params
        )
    await app.state.request_log.flush()
    return response.status_code


async def test_unused_when_never_used_for_a_week(app: FastAPI, frozen_clock: FrozenClock) -> None:
    key, _ = await make_key(app, await make_org(app))
    frozen_clock.advance(7 * DAY)
    assert await codes(app, key, frozen_clock) == []
    frozen_clock.advance(SECOND)
    assert await codes(app, key, frozen_clock) == ["unused"]
    text = await message(app, key, frozen_clock, "unused")
    assert "never been used" in text and "revoke it" in text


async def test_unused_when_not_used_for_90_days(app: FastAPI, frozen_clock: FrozenClock) -> None:
    key, plaintext = await make_key(app, await make_org(app))
    frozen_clock.advance(DAY)
    assert await use(app, plaintext) == 200
    frozen_clock.advance(90 * DAY)
    assert "unused" not in await codes(app, key, frozen_clock)
    frozen_clock.advance(SECOND)
    assert "unused" in await codes(app, key, frozen_clock)
    assert "not been used for 90 days" in await message(app, key, frozen_clock, "unused")

    assert await use(app, plaintext) == 200
    assert "unused" not in await codes(app, key, frozen_clock)


async def test_rotation_due_after_90_days(app: FastAPI, frozen_clock: FrozenClock) -> None:
    key, plaintext = await make_key(app, await make_org(app))
    frozen_clock.advance(90 * DAY)
    assert await use(app, plaintext) == 200
    assert await codes(app, key, frozen_clock) == []
    frozen_clock.advance(SECOND)
    assert await codes(app, key, frozen_clock) == ["rotation_due"]
    text = await message(app, key, frozen_clock, "rotation_due")
    assert "90 days old" in text and "3 to 6 months" in text


async def test_expires_soon_in_the_last_seven_days(app: FastAPI, frozen_clock: FrozenClock) -> None:
    expires = frozen_clock.now() + 30 * DAY
    key, plaintext = await make_key(app, await make_org(app), expires_at=expires)
    assert await use(app, plaintext) == 200
    frozen_clock.advance(23 * DAY - SECOND)
    assert await codes(app, key, frozen_clock) == []
    frozen_clock.advance(SECOND)
    assert await codes(app, key, frozen_clock) == ["expires_soon"]
    assert rfc3339(expires) in await message(app, key, frozen_clock, "expires_soon")
    frozen_clock.set(expires)
    assert await codes(app, key, frozen_clock) == []  # expired keys cannot be used: no advice


async def test_expires_soon_names_the_new_key_after_a_rotation(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    key, plaintext = await make_key(app, org)
    assert await use(app, plaintext) == 200
    async with app.state.sessionmaker() as session:
        old = await session.get(ApiKey, key.id)
        fresh_org = await session.get(Organization, org.id)
        assert old is not None and fresh_org is not None
        new_key, _ = await keys.rotate(session, fresh_org, old, CLI_ACTOR, grace=DAY)
        await session.commit()
    assert await codes(app, key, frozen_clock) == ["expires_soon"]
    assert new_key.id in await message(app, key, frozen_clock, "expires_soon")


async def test_new_ip_when_a_second_address_appears(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    key, plaintext = await make_key(app, await make_org(app))
    assert await use(app, plaintext, ip="192.0.2.1") == 200
    assert await codes(app, key, frozen_clock) == []  # the address it was set up from
    frozen_clock.advance(10 * DAY)
    assert await use(app, plaintext, ip="192.0.2.1") == 200
    assert await codes(app, key, frozen_clock) == []

    assert await use(app, plaintext, ip="203.0.113.77") == 200
    assert await codes(app, key, frozen_clock) == ["new_ip"]
    assert "203.0.113.77" in await message(app, key, frozen_clock, "new_ip")

    frozen_clock.advance(7 * DAY - SECOND)
    assert await codes(app, key, frozen_clock) == ["new_ip"]
    frozen_clock.advance(SECOND)
    assert await codes(app, key, frozen_clock) == []  # known for a week now


async def test_revoked_key_in_use(app: FastAPI, frozen_clock: FrozenClock) -> None:
    key, plaintext = await make_key(app, await make_org(app))
    assert await use(app, plaintext) == 200
    async with app.state.sessionmaker() as session:
        row = await session.get(ApiKey, key.id)
        assert row is not None
        await keys.revoke(session, row, CLI_ACTOR)
        await session.commit()
    frozen_clock.advance(200 * DAY)  # old and idle, but revoked keys only warn of use
    assert await codes(app, key, frozen_clock) == []

    assert await use(app, plaintext, ip="198.51.100.66") == 401
    assert await codes(app, key, frozen_clock) == ["revoked_key_in_use"]
    text = await message(app, key, frozen_clock, "revoked_key_in_use")
    assert str(frozen_clock.now().date()) in text


async def test_exposed_in_url(app: FastAPI, frozen_clock: FrozenClock) -> None:
    key, plaintext = await make_key(app, await make_org(app))
    assert await use(app, plaintext) == 200
    assert await codes(app, key, frozen_clock) == []
    frozen_clock.advance(HOUR)
    assert await use(app, plaintext, api_key=plaintext) == 401
    assert await codes(app, key, frozen_clock) == ["exposed_in_url"]
    assert "Rotate it" in await message(app, key, frozen_clock, "exposed_in_url")


async def seed_hour(app: FastAPI, key: ApiKey, hour_start: Any, requests: int) -> None:
    step = HOUR / (requests + 1)
    await seed_logs(
        app,
        [
            log_row(key.organization_id, hour_start + step * (i + 1), key_id=key.id)
            for i in range(requests)
        ],
    )


async def spike_key(app: FastAPI, frozen_clock: FrozenClock, usual: int) -> tuple[ApiKey, Any]:
    """A key ten days old, used ``usual`` times an hour in 30 hours of the previous week."""
    now = frozen_clock.now().replace(minute=30, second=0, microsecond=0)
    frozen_clock.set(now - 10 * DAY)
    key, _ = await make_key(app, await make_org(app))
    frozen_clock.set(now)
    current_hour = now.replace(minute=0)
    if usual:
        for h in range(30):
            await seed_hour(app, key, current_hour - 2 * DAY - h * 3 * HOUR, usual)
    return key, current_hour


@pytest.mark.parametrize(
    ("usual", "peak", "warned"),
    [(12, 121, True), (12, 120, False), (5, 101, True), (5, 100, False), (0, 101, True)],
)
async def test_spike_when_an_hour_is_far_above_usual(
    app: FastAPI, frozen_clock: FrozenClock, usual: int, peak: int, warned: bool
) -> None:
    """Over 100 requests and over 10 times the usual hour (median of the active hours)."""
    key, current_hour = await spike_key(app, frozen_clock, usual)
    await seed_hour(app, key, current_hour - 5 * HOUR, peak)
    found = await codes(app, key, frozen_clock)
    assert ("spike" in found) is warned
    if warned:
        text = await message(app, key, frozen_clock, "spike")
        assert f"{peak} requests" in text


async def test_spike_counts_complete_hours_and_fades_after_a_day(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    key, current_hour = await spike_key(app, frozen_clock, 10)
    await seed_hour(app, key, current_hour, 500)
    assert "spike" not in await codes(app, key, frozen_clock)  # this hour is not over yet
    frozen_clock.set(current_hour + HOUR)
    assert "spike" in await codes(app, key, frozen_clock)
    frozen_clock.set(current_hour + 25 * HOUR - SECOND)
    assert "spike" in await codes(app, key, frozen_clock)
    frozen_clock.set(current_hour + 25 * HOUR)
    assert "spike" not in await codes(app, key, frozen_clock)


async def test_no_spike_for_a_key_younger_than_a_day(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    key, _ = await make_key(app, await make_org(app))
    await seed_hour(app, key, frozen_clock.now() - 20 * HOUR, 1000)
    assert "spike" not in await codes(app, key, frozen_clock)


async def test_many_keys_cost_three_queries(app: FastAPI, frozen_clock: FrozenClock) -> None:
    org = await make_org(app)
    made = [(await make_key(app, org))[0] for _ in range(20)]
    async with app.state.sessionmaker() as session:
        loaded = [await session.get(ApiKey, k.id) for k in made]
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            frozen_clock.advance(100 * DAY)
            result = await warnings_for(session, [k for k in loaded if k], frozen_clock.now())
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= 3, statements
    assert {k.id: [w["code"] for w in v] for k, v in zip(made, result.values(), strict=True)} == {
        k.id: ["unused", "rotation_due"] for k in made
    }


async def test_api_key_objects_carry_their_warnings(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    idle, _ = await make_key(app, org)
    _, admin = await make_key(app, org, ["admin"])
    frozen_clock.advance(8 * DAY)
    async with client_from(app, "192.0.2.99") as client:
        response = await client.get("/v1/api-keys", headers=auth(admin))
    assert response.status_code == 200, response.text
    shown = {k["id"]: k["warnings"] for k in response.json()["data"]}
    assert [w["code"] for w in shown[idle.id]] == ["unused"]
    assert all(set(w) == {"code", "message"} for w in shown[idle.id])
