"""Idempotency records: claiming, replaying, releasing, abandoned claims and expiry."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.core.clock import FrozenClock
from botyard.idempotency import service
from botyard.idempotency.models import IdempotencyRecord
from botyard.idempotency.service import Outcome
from tests.factories import make_org

KEY = service.cipher_key("byk_secret", "org_x", "idem")


async def take(
    app: FastAPI, org_id: str, idempotency_key: str, print_: str = "f1", key: bytes = KEY
):
    return await service.claim(
        app.state.sessionmaker,
        organization_id=org_id,
        idempotency_key=idempotency_key,
        method="POST",
        path="/v1/bots",
        request_fingerprint=print_,
        key=key,
    )


def test_fingerprints_compare_json_by_content_and_include_the_key() -> None:
    base = service.fingerprint("key_a", "POST", "/v1/bots", b'{"name": "x", "status": "active"}')
    assert base == service.fingerprint(
        "key_a", "POST", "/v1/bots", b'{ "status":"active",\n "name":"x" }'
    )
    assert base != service.fingerprint(
        "key_b", "POST", "/v1/bots", b'{"name": "x", "status": "active"}'
    )
    assert base != service.fingerprint(
        "key_a", "POST", "/v1/bots?x=1", b'{"name": "x", "status": "active"}'
    )
    assert base != service.fingerprint(
        "key_a", "POST", "/v1/bots", b'{"name": "y", "status": "active"}'
    )
    assert service.fingerprint("key_a", "POST", "/p", b"not json") != service.fingerprint(
        "key_a", "POST", "/p", b"not json!"
    )


def test_the_cipher_key_depends_on_the_api_key() -> None:
    assert service.cipher_key("byk_one", "org", "k") != service.cipher_key("byk_two", "org", "k")
    assert service.cipher_key("byk_one", "org", "k") == service.cipher_key("byk_one", "org", "k")


async def test_claim_complete_replay_and_refusals(app: FastAPI) -> None:
    org = await make_org(app)
    idem = str(uuid.uuid4())
    first = await take(app, org.id, idem)
    assert first.outcome is Outcome.CLAIMED and first.claim is not None
    assert (await take(app, org.id, idem)).outcome is Outcome.IN_PROGRESS
    await service.complete(app.state.sessionmaker, first.claim, 201, b'{"id": "bot_1"}')
    replay = await take(app, org.id, idem)
    assert replay.outcome is Outcome.REPLAY
    assert replay.response == service.StoredResponse(201, b'{"id": "bot_1"}')
    assert (await take(app, org.id, idem, print_="f2")).outcome is Outcome.REUSED
    wrong_key = service.cipher_key("byk_other", org.id, idem)
    assert (await take(app, org.id, idem, key=wrong_key)).outcome is Outcome.REUSED
    async with app.state.sessionmaker() as session:
        stored = await session.scalar(
            select(IdempotencyRecord.response_body).where(
                IdempotencyRecord.organization_id == org.id
            )
        )
        assert stored is not None and "bot_1" not in stored


async def test_a_released_claim_can_be_taken_again(app: FastAPI) -> None:
    org = await make_org(app)
    idem = str(uuid.uuid4())
    first = await take(app, org.id, idem)
    assert first.claim is not None
    await service.release(app.state.sessionmaker, first.claim)
    assert (await take(app, org.id, idem, print_="other")).outcome is Outcome.CLAIMED


async def test_an_abandoned_claim_is_retaken_after_a_while(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app)
    idem = str(uuid.uuid4())
    assert (await take(app, org.id, idem)).outcome is Outcome.CLAIMED
    frozen_clock.advance(service.STALE_CLAIM - timedelta(seconds=1))
    assert (await take(app, org.id, idem)).outcome is Outcome.IN_PROGRESS
    frozen_clock.advance(timedelta(seconds=2))
    assert (await take(app, org.id, idem)).outcome is Outcome.CLAIMED


async def test_records_older_than_a_day_are_purged(app: FastAPI, frozen_clock: FrozenClock) -> None:
    org = await make_org(app)
    for n in range(3):
        result = await take(app, org.id, f"old-{n}")
        assert result.claim is not None
        await service.complete(app.state.sessionmaker, result.claim, 201, b"{}")
    frozen_clock.advance(service.RETENTION + timedelta(seconds=1))
    await take(app, org.id, "new")
    async with app.state.sessionmaker() as session:
        left = await session.scalar(
            select(func.count()).where(IdempotencyRecord.organization_id == org.id)
        )
    assert left == 1
