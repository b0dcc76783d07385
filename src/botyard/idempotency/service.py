"""Idempotency records: claim a key before acting, keep the first response, replay it on retries.

A record is claimed (``status_code`` 0) in its own committed transaction before the endpoint
runs, so of two concurrent requests with one key only one can act: the unique constraint on
(organization_id, idempotency_key) refuses the other. The claim is completed with the response
when the request succeeded, and released when it did not (a failed request changed nothing, so
the client may fix it and retry with the same key).

The stored response is encrypted with a key derived from the caller's API key, which is never
stored: a response that carried a secret (a new API key, an invitation token) can be replayed
to the caller that made it, and is unreadable to anyone reading the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from botyard.core import clock
from botyard.idempotency.models import IdempotencyRecord

RETENTION = timedelta(hours=24)
STALE_CLAIM = timedelta(minutes=5)
"""A claim still pending after this long belongs to a request that died; it may be retaken."""
KEY_MAX_LENGTH = 255
PENDING = 0
PATH_MAX = 300


@dataclass(frozen=True, slots=True)
class Claim:
    record_id: str
    cipher_key: bytes


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes


class Outcome(Enum):
    CLAIMED = "claimed"
    REPLAY = "replay"
    IN_PROGRESS = "in_progress"
    REUSED = "reused"


@dataclass(frozen=True, slots=True)
class ClaimResult:
    outcome: Outcome
    claim: Claim | None = None
    response: StoredResponse | None = None


def valid_key(value: str) -> bool:
    return 1 <= len(value) <= KEY_MAX_LENGTH and all(33 <= ord(c) <= 126 for c in value)


def _canonical(body: bytes) -> bytes:
    """JSON bodies compare by content, so a retry that re-serialises its body still matches."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()


def fingerprint(key_id: str, method: str, target: str, body: bytes) -> str:
    """What makes two requests "the same": the API key, the method, the URL and the body."""
    digest = hashlib.sha256()
    for part in (key_id.encode(), method.encode(), target.encode()):
        digest.update(part + b"\n")
    digest.update(_canonical(body))
    return digest.hexdigest()


def cipher_key(api_key: str, organization_id: str, idempotency_key: str) -> bytes:
    material = hmac.new(
        api_key.encode(),
        b"botyard idempotency\0" + organization_id.encode() + b"\0" + idempotency_key.encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(material)


async def _purge(session: AsyncSession, organization_id: str, idempotency_key: str) -> None:
    """Drop the organization's expired records and this key's abandoned claim."""
    now = clock.now()
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == organization_id,
            IdempotencyRecord.created_at < now - RETENTION,
        )
    )
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == organization_id,
            IdempotencyRecord.idempotency_key == idempotency_key,
            IdempotencyRecord.status_code == PENDING,
            IdempotencyRecord.created_at < now - STALE_CLAIM,
        )
    )
    await session.commit()


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    organization_id: str,
    idempotency_key: str,
    method: str,
    path: str,
    request_fingerprint: str,
    key: bytes,
) -> ClaimResult:
    """Take the key for this request, or say why not: a replay, a request in flight, a reuse."""
    async with sessionmaker() as session:
        await _purge(session, organization_id, idempotency_key)
        for _ in range(3):
            record = IdempotencyRecord(
                organization_id=organization_id,
                idempotency_key=idempotency_key,
                method=method,
                path=path[:PATH_MAX],
                body_hash=request_fingerprint,
                status_code=PENDING,
                response_body="",
                created_at=clock.now(),
            )
            session.add(record)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
            else:
                return ClaimResult(Outcome.CLAIMED, claim=Claim(record.id, key))
            existing = (
                await session.scalars(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.organization_id == organization_id,
                        IdempotencyRecord.idempotency_key == idempotency_key,
                    )
                )
            ).first()
            if existing is None:
                continue  # released between our insert and this read: try again
            if existing.body_hash != request_fingerprint:
                return ClaimResult(Outcome.REUSED)
            if existing.status_code == PENDING:
                return ClaimResult(Outcome.IN_PROGRESS)
            try:
                body = Fernet(key).decrypt(existing.response_body.encode())
            except InvalidToken:
                return ClaimResult(Outcome.REUSED)
            return ClaimResult(Outcome.REPLAY, response=StoredResponse(existing.status_code, body))
    return ClaimResult(Outcome.IN_PROGRESS)


async def complete(
    sessionmaker: async_sessionmaker[AsyncSession], claimed: Claim, status_code: int, body: bytes
) -> None:
    encrypted = Fernet(claimed.cipher_key).encrypt(body).decode()
    async with sessionmaker() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == claimed.record_id)
            .values(status_code=status_code, response_body=encrypted)
        )
        await session.commit()


async def release(sessionmaker: async_sessionmaker[AsyncSession], claimed: Claim) -> None:
    async with sessionmaker() as session:
        await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.id == claimed.record_id)
        )
        await session.commit()
