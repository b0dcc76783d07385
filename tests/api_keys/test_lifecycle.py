"""The key's whole life: its format, how it is stored, rotation, revocation and plan changes."""

from __future__ import annotations

import asyncio
import hashlib
import re
import zlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from botyard.api_keys import cache as cache_module
from botyard.api_keys import keyformat
from botyard.api_keys import service as keys
from botyard.api_keys.cache import KeyCache
from botyard.api_keys.models import ApiKey
from botyard.audit.service import CLI_ACTOR
from botyard.core.clock import FrozenClock
from botyard.core.errors import APIError
from botyard.core.timefmt import rfc3339
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization, Plan
from tests.factories import auth, make_key, make_org

KEY_REGEX = re.compile(r"byk_[0-9A-Za-z]{38}")
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def error_code(response: httpx.Response) -> str | None:
    return response.json().get("error", {}).get("code") if response.status_code >= 400 else None


# Format --------------------------------------------------------------------------------------


def test_generated_keys_match_the_published_format() -> None:
    generated = {keyformat.generate() for _ in range(200)}
    assert len(generated) == 200
    for key in generated:
        assert len(key) == 42
        assert KEY_REGEX.fullmatch(key), key
        assert keyformat.format_problem(key) is None


def test_checksum_known_vectors_worked_out_from_the_spec() -> None:
    """CRC32 (zlib) of the first 36 characters, base62 0-9A-Za-z, most significant digit first.

    byk_AAAA…A (32 A): CRC32 = 2670221026 = 2·62⁵ + 56·62⁴ + 43·62³ + 60·62² + 29·62 + 4,
    digits 2, 56→'u', 43→'h', 60→'y', 29→'T', 4 → "2uhyT4".
    byk_000…03: CRC32 = 199424662 < 62⁵, so it is left-padded: 0, 13→'D', 30→'U', 47→'l',
    28→'S', 50→'o' → "0DUlSo".
    """
    vectors = {
        "byk_" + "A" * 32: ([2, 56, 43, 60, 29, 4], "2uhyT4"),
        "byk_" + "0" * 31 + "3": ([0, 13, 30, 47, 28, 50], "0DUlSo"),
    }
    for body, (digits, expected) in vectors.items():
        assert len(body) == 36
        crc = zlib.crc32(body.encode("ascii"))
        assert sum(d * 62**power for d, power in zip(digits, range(5, -1, -1), strict=True)) == crc
        assert "".join(ALPHABET[d] for d in digits) == expected
        assert keyformat.checksum(body) == expected
        assert keyformat.format_problem(body + expected) is None


def test_any_single_changed_character_or_swap_is_caught_without_a_lookup() -> None:
    key = keyformat.generate()
    for position in range(len(keyformat.PREFIX), len(key)):
        for replacement in ("0", "z", "Q"):
            if key[position] == replacement:
                continue
            changed = key[:position] + replacement + key[position + 1 :]
            assert keyformat.format_problem(changed) is not None, (position, replacement)
    for position in range(len(keyformat.PREFIX), len(key) - 1):
        if key[position] != key[position + 1]:
            swapped = key[:position] + key[position + 1] + key[position] + key[position + 2 :]
            assert keyformat.format_problem(swapped) is not None, position


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda k: k[:-1], "41 characters"),
        (lambda k: k + "A", "43 characters"),
        (lambda k: k[:15] + " " + k[15:], "spaces"),
        (lambda k: "byk-" + k[4:], "byk_"),
        (lambda k: k[:-6] + "-_-_-_", "characters"),
        (lambda k: k[:4] + k[4:].swapcase(), "checksum"),
    ],
)
def test_format_problems_say_what_is_wrong(mangle: Any, words: str) -> None:
    problem = keyformat.format_problem(mangle(keyformat.generate()))
    assert problem is not None and words in problem


def test_hint_is_first_eight_and_last_four() -> None:
    key = keyformat.generate()
    assert keyformat.hint(key) == f"{key[:8]}…{key[-4:]}"


async def test_only_sha256_and_hint_are_stored(app: FastAPI) -> None:
    row, plaintext = await make_key(app, await make_org(app))
    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, row.id)
    assert stored is not None
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert stored.hint == plaintext[:8] + "…" + plaintext[-4:]
    columns = [getattr(stored, c.key) for c in ApiKey.__table__.columns]
    assert not any(plaintext in str(value) for value in columns)


# Rotation ------------------------------------------------------------------------------------


async def rotate(
    app: FastAPI, org: Organization, key_id: str, grace: timedelta
) -> tuple[ApiKey, str]:
    async with app.state.sessionmaker() as session:
        old = await keys.get_key(session, org.id, key_id)
        new, plaintext = await keys.rotate(
            session, await orgs.get(session, org.id), old, CLI_ACTOR, grace
        )
        await session.commit()
        return new, plaintext


async def test_rotation_grace_period(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    old_row, old_key = await make_key(app, org)
    assert (await client.get("/v1/bots", headers=auth(old_key))).status_code == 200

    rotated_at = frozen_clock.now()
    _, new_key = await rotate(app, org, old_row.id, timedelta(hours=24))
    assert new_key != old_key
    assert (await client.get("/v1/bots", headers=auth(new_key))).status_code == 200
    assert (await client.get("/v1/bots", headers=auth(old_key))).status_code == 200

    frozen_clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert (await client.get("/v1/bots", headers=auth(old_key))).status_code == 200

    frozen_clock.advance(timedelta(seconds=1))
    refused = await client.get("/v1/bots", headers=auth(old_key))
    assert refused.status_code == 401
    assert error_code(refused) == "api_key_expired"
    assert rfc3339(rotated_at + timedelta(hours=24)) in refused.json()["error"]["message"]
    assert (await client.get("/v1/bots", headers=auth(new_key))).status_code == 200


async def test_rotation_with_no_grace_refuses_the_old_key_at_once(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    old_row, old_key = await make_key(app, org)
    assert (await client.get("/v1/bots", headers=auth(old_key))).status_code == 200
    _, new_key = await rotate(app, org, old_row.id, timedelta(0))
    refused = await client.get("/v1/bots", headers=auth(old_key))
    assert (refused.status_code, error_code(refused)) == (401, "api_key_revoked")
    assert (await client.get("/v1/bots", headers=auth(new_key))).status_code == 200


@pytest.mark.parametrize(
    "grace", [timedelta(days=7, seconds=1), timedelta(days=30), timedelta(seconds=-1)]
)
async def test_grace_outside_zero_to_seven_days_is_refused(app: FastAPI, grace: timedelta) -> None:
    org = await make_org(app)
    row, _ = await make_key(app, org)
    with pytest.raises(APIError) as raised:
        await rotate(app, org, row.id, grace)
    assert raised.value.code == "invalid_grace_period"
    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, row.id)
    assert stored is not None and stored.rotated_to is None and stored.expires_at is None


async def test_seven_days_of_grace_is_allowed(app: FastAPI, frozen_clock: FrozenClock) -> None:
    org = await make_org(app)
    row, _ = await make_key(app, org)
    await rotate(app, org, row.id, timedelta(days=7))
    async with app.state.sessionmaker() as session:
        stored = await session.get(ApiKey, row.id)
    assert stored is not None and stored.expires_at == frozen_clock.now() + timedelta(days=7)


async def test_rotation_keeps_name_scopes_ips_and_lifetime(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    old_row, old_key = await make_key(
        app,
        org,
        ["write"],
        name="Website Integration",
        allowed_ips=["203.0.113.0/24", "2001:db8::/32"],
        expires_at=frozen_clock.now() + timedelta(days=90),
    )
    frozen_clock.advance(timedelta(days=10))
    new_row, new_key = await rotate(app, org, old_row.id, timedelta(hours=1))
    assert new_row.name == "Website Integration"
    assert new_row.scopes == ["write"]
    assert new_row.allowed_ips == ["203.0.113.0/24", "2001:db8::/32"]
    assert new_row.expires_at == frozen_clock.now() + timedelta(days=90)
    assert new_row.rotated_from == old_row.id
    assert keyformat.format_problem(new_key) is None
    assert new_row.hint == keyformat.hint(new_key) != keyformat.hint(old_key)
    async with app.state.sessionmaker() as session:
        old = await session.get(ApiKey, old_row.id)
    assert old is not None and old.rotated_to == new_row.id


async def test_a_rotated_key_cannot_be_rotated_again(app: FastAPI) -> None:
    org = await make_org(app)
    row, _ = await make_key(app, org)
    await rotate(app, org, row.id, timedelta(hours=1))
    with pytest.raises(APIError) as raised:
        await rotate(app, org, row.id, timedelta(hours=1))
    assert raised.value.code == "already_rotated"


# Revocation ----------------------------------------------------------------------------------


async def test_revocation_takes_effect_on_the_very_next_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    row, key = await make_key(app, org)
    for _ in range(3):  # warm the cache
        assert (await client.get("/v1/bots", headers=auth(key))).status_code == 200
    async with app.state.sessionmaker() as session:
        await keys.revoke(session, await keys.get_key(session, org.id, row.id), CLI_ACTOR)
        await session.commit()
    refused = await client.get("/v1/bots", headers=auth(key))
    assert (refused.status_code, error_code(refused)) == (401, "api_key_revoked")


async def test_a_lookup_racing_a_revocation_does_not_cache_the_stale_key(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that read the key just before a revocation committed must not put the old
    state back into the cache after the revocation evicted it."""
    org = await make_org(app)
    row, key = await make_key(app, org)
    cache = KeyCache(ttl=60)
    key_hash = keyformat.hash_key(key)

    real_fetch = cache_module.fetch_first

    async def fetch_while_revoked(*args: Any) -> Any:
        """The read completes just as another request's revocation commits."""
        row_read = await real_fetch(*args)
        cache.evict_key(row.id)
        return row_read

    monkeypatch.setattr(cache_module, "fetch_first", fetch_while_revoked)
    verified = await cache.lookup(key_hash, app.state.engine)
    assert verified is not None and verified.id == row.id
    assert cache.get(key_hash) is None, "a stale read was cached after the eviction"


class GatedFetch:
    """Stands in for the database read: counts reads and holds them until released."""

    def __init__(self, real: Any, fail_first: bool = False) -> None:
        self.real = real
        self.fail_first = fail_first
        self.reads = 0
        self.release = asyncio.Event()

    async def __call__(self, *args: Any) -> Any:
        self.reads += 1
        first = self.reads == 1
        await self.release.wait()
        if first and self.fail_first:
            raise ConnectionError("database went away")
        return await self.real(*args)


async def gated_cache(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, *, fail_first: bool = False
) -> tuple[Any, KeyCache, str, GatedFetch]:
    """A stored key, an empty cache for it, and its database reads held until released."""
    row, key = await make_key(app, await make_org(app))
    fetch = GatedFetch(cache_module.fetch_first, fail_first=fail_first)
    monkeypatch.setattr(cache_module, "fetch_first", fetch)
    return row, KeyCache(ttl=60), keyformat.hash_key(key), fetch


async def test_concurrent_misses_for_one_key_share_a_single_read(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    row, cache, key_hash, fetch = await gated_cache(app, monkeypatch)

    lookups = [asyncio.create_task(cache.lookup(key_hash, app.state.engine)) for _ in range(20)]
    await asyncio.sleep(0)
    fetch.release.set()
    found = await asyncio.gather(*lookups)
    assert {v.id for v in found if v is not None} == {row.id} and None not in found
    assert fetch.reads == 1 and cache.misses == 1


async def test_a_miss_after_an_eviction_does_not_join_the_read_before_it(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that arrives after a revocation must not be answered by an older read."""
    row, cache, key_hash, fetch = await gated_cache(app, monkeypatch)

    before = asyncio.create_task(cache.lookup(key_hash, app.state.engine))
    await asyncio.sleep(0)
    cache.evict_key(row.id)
    after = asyncio.create_task(cache.lookup(key_hash, app.state.engine))
    await asyncio.sleep(0)
    fetch.release.set()
    await asyncio.gather(before, after)
    assert fetch.reads == 2


async def test_waiters_on_a_failed_read_read_for_themselves(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    row, cache, key_hash, fetch = await gated_cache(app, monkeypatch, fail_first=True)

    leader = asyncio.create_task(cache.lookup(key_hash, app.state.engine))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(cache.lookup(key_hash, app.state.engine)) for _ in range(3)]
    await asyncio.sleep(0)
    fetch.release.set()
    with pytest.raises(ConnectionError):
        await leader
    found = await asyncio.gather(*waiters)
    assert all(v is not None and v.id == row.id for v in found)
    assert 2 <= fetch.reads <= 4


# Plans ---------------------------------------------------------------------------------------


async def change_plan(app: FastAPI, org: Organization, plan: Plan) -> None:
    async with app.state.sessionmaker() as session:
        await orgs.set_plan(session, await orgs.get(session, org.id), plan, CLI_ACTOR)
        await session.commit()


async def test_plan_change_applies_to_existing_keys_without_restart(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """No waiting for the cache to expire: the change is visible on the next request."""
    org = await make_org(app, plan="starter")
    _, key = await make_key(app, org)
    refused = await client.get("/v1/bots", headers=auth(key))
    assert (refused.status_code, error_code(refused)) == (403, "plan_required")

    await change_plan(app, org, Plan.PROFESSIONAL)
    assert (await client.get("/v1/bots", headers=auth(key))).status_code == 200

    await change_plan(app, org, Plan.FREE)
    refused = await client.get("/v1/bots", headers=auth(key))
    assert (refused.status_code, error_code(refused)) == (403, "plan_required")

    await change_plan(app, org, Plan.ENTERPRISE)
    assert (await client.get("/v1/bots", headers=auth(key))).status_code == 200


async def test_rate_limit_change_applies_on_the_next_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    _, key = await make_key(app, org)
    first = await client.get("/v1/bots", headers=auth(key))
    assert first.headers["x-ratelimit-limit"] == "1000"
    async with app.state.sessionmaker() as session:
        await orgs.set_rate_limit(session, await orgs.get(session, org.id), 5000, CLI_ACTOR)
        await session.commit()
    second = await client.get("/v1/bots", headers=auth(key))
    assert second.headers["x-ratelimit-limit"] == "5000"


async def test_plan_change_is_audited(app: FastAPI) -> None:
    from botyard.audit.models import AuditEvent

    org = await make_org(app, plan="starter")
    await change_plan(app, org, Plan.PROFESSIONAL)
    async with app.state.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.organization_id == org.id, AuditEvent.action == "plan.changed"
                )
            )
        ).all()
    assert [e.data for e in events] == [{"from": "starter", "to": "professional"}]
