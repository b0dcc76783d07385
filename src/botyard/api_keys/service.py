"""API-key lifecycle: create, list, revoke, rotate. The plaintext key leaves only as a return value."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.api_keys import keyformat
from botyard.api_keys.cache import key_cache
from botyard.api_keys.models import ApiKey, Scope, effective_scopes
from botyard.audit.service import Actor, record
from botyard.core import clock
from botyard.core.database import after_commit, update_if
from botyard.core.errors import APIError, Conflict, InsufficientPermissions, NotFound
from botyard.core.ids import new_id
from botyard.core.pagination import paginate
from botyard.core.timefmt import rfc3339
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization
from botyard.webhooks import events

NAME_MAX = 100
LEAK_REPORTER = Actor("credential_revocation")
"""Who revokes a key reported as leaked: whoever found it, unauthenticated."""
MAX_GRACE = timedelta(days=7)
DEFAULT_GRACE = timedelta(hours=24)
MAX_ALLOWED_IPS = 100


class KeyStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def status_of(key: ApiKey, now: datetime | None = None) -> KeyStatus:
    now = now or clock.now()
    if key.revoked_at is not None and key.revoked_at <= now:
        return KeyStatus.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return KeyStatus.EXPIRED
    return KeyStatus.ACTIVE


def validate_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise APIError(
            "invalid_name", f"Key name must be 1 to {NAME_MAX} characters.", param="name"
        )
    return name


def validate_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise APIError(
            "invalid_scopes", "Choose at least one scope: read, write or admin.", param="scopes"
        )
    valid = {s.value for s in Scope}
    unknown = [s for s in scopes if s not in valid]
    if unknown:
        raise APIError(
            "invalid_scopes",
            f"Unknown scope {unknown[0]!r}; choose from read, write, admin.",
            param="scopes",
        )
    return [s.value for s in Scope if s.value in scopes]


def validate_allowed_ips(allowed_ips: list[str] | None) -> list[str] | None:
    if not allowed_ips:
        return None
    if len(allowed_ips) > MAX_ALLOWED_IPS:
        raise APIError(
            "invalid_allowed_ips",
            f"At most {MAX_ALLOWED_IPS} entries.",
            param="allowed_ips",
        )
    networks = []
    for entry in allowed_ips:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError:
            raise APIError(
                "invalid_allowed_ips",
                f"{entry!r} is not an IP address or CIDR range (like 203.0.113.0/24).",
                param="allowed_ips",
            ) from None
    return networks


def validate_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is not None and expires_at <= clock.now():
        raise APIError("invalid_expiry", "expires_at must be in the future.", param="expires_at")
    return expires_at


def check_not_wider(requested: list[str], creator_scopes: frozenset[str] | None) -> None:
    """A key never mints a key with a scope it lacks itself."""
    if creator_scopes is None:
        return
    wider = sorted(effective_scopes(requested) - creator_scopes)
    if wider:
        raise InsufficientPermissions(
            "scope_not_granted",
            f"a key cannot create a key with the {', '.join(wider)!s} scope it does not have "
            f"itself (this key has {', '.join(sorted(creator_scopes))}).",
        )


async def _emit(session: AsyncSession, event_type: str, key: ApiKey) -> None:
    """The key as the API shows it (a hint, never the key) to the organization's webhooks."""
    from botyard.api_keys.schemas import ApiKeyOut  # the schemas import this module

    warnings = [leaked_warning(key)] if key.leaked_at is not None else []
    data = ApiKeyOut.of(key, status_of(key), warnings)
    await events.emit(session, key.organization_id, event_type, data)


def leaked_warning(key: ApiKey) -> dict[str, str]:
    at = rfc3339(key.leaked_at) if key.leaked_at else "an unknown time"
    return {
        "code": "leaked",
        "message": f"Leaked: revoked automatically at {at}, after the key was reported found "
        "in public. Generate a new key for the integration that used it, and remove the old "
        "one from wherever it was published.",
    }


def _evict_on_commit(session: AsyncSession, key_id: str) -> None:
    after_commit(session, lambda: key_cache.evict_key(key_id))


async def create_key(
    session: AsyncSession,
    org: Organization,
    *,
    name: str,
    scopes: list[str],
    actor: Actor,
    expires_at: datetime | None = None,
    allowed_ips: list[str] | None = None,
    rate_limit: int | None = None,
    creator_scopes: frozenset[str] | None = None,
    key_id: str | None = None,
) -> tuple[ApiKey, str]:
    """Returns the row and the plaintext key, which is shown once and never stored.

    ``key_id`` is given by a rotation, which names the successor before creating it."""
    scopes = validate_scopes(scopes)
    check_not_wider(scopes, creator_scopes)
    if rate_limit is not None and rate_limit < 1:
        raise APIError("invalid_rate_limit", "rate_limit must be at least 1.", param="rate_limit")
    name = validate_name(name)
    await _refuse_duplicate_name(session, org.id, name)
    plaintext = keyformat.generate()
    key = ApiKey(
        id=key_id or new_id("key"),
        organization_id=org.id,
        name=name,
        key_hash=keyformat.hash_key(plaintext),
        hint=keyformat.hint(plaintext),
        scopes=scopes,
        allowed_ips=validate_allowed_ips(allowed_ips),
        rate_limit=rate_limit,
        expires_at=validate_expiry(expires_at),
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(key)
    await session.flush()
    await record(
        session,
        organization_id=org.id,
        action="api_key.created",
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        data={"name": key.name, "scopes": scopes},
    )
    await _emit(session, "api_key.created", key)
    return key, plaintext


async def _refuse_duplicate_name(
    session: AsyncSession, organization_id: str, name: str, *, other_than: str | None = None
) -> None:
    """Two live keys must not share a name (case aside), or nobody can tell which to revoke.

    A rotated key keeps its name until its grace period ends, beside its successor: it no
    longer counts. The organization is held first, so two requests cannot both find the name
    free and both take it."""
    await orgs.hold(session, organization_id)
    now = clock.now()
    clash = await session.scalar(
        select(ApiKey.hint).where(
            ApiKey.organization_id == organization_id,
            func.lower(ApiKey.name) == name.lower(),
            ApiKey.rotated_to.is_(None),
            _still_live(now),
            ApiKey.id != other_than if other_than else true(),
        )
    )
    if clash is not None:
        raise Conflict(
            "duplicate_key_name",
            f"An active key named {name!r} already exists ({clash}); choose another name, "
            "or rotate that key to replace it.",
            param="name",
        )


async def update_key(
    session: AsyncSession,
    key: ApiKey,
    changes: dict[str, Any],
    actor: Actor,
    creator_scopes: frozenset[str] | None = None,
) -> ApiKey:
    """Change a live key's name, scopes, IP allow-list or own rate limit, never its secret.

    ``changes`` holds only the fields the caller sent; a None allow-list or limit clears it.
    Scopes never grow wider than the caller's own."""
    now = clock.now()
    if status_of(key, now) is not KeyStatus.ACTIVE or key.rotated_to is not None:
        raise _refusal(key, now)
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = validate_name(changes["name"])
        await _refuse_duplicate_name(
            session, key.organization_id, values["name"], other_than=key.id
        )
    if "scopes" in changes:
        values["scopes"] = validate_scopes(changes["scopes"])
        check_not_wider(values["scopes"], creator_scopes)
    if "allowed_ips" in changes:
        values["allowed_ips"] = validate_allowed_ips(changes["allowed_ips"])
    if "rate_limit" in changes:
        rate_limit = changes["rate_limit"]
        if rate_limit is not None and rate_limit < 1:
            raise APIError(
                "invalid_rate_limit", "rate_limit must be at least 1.", param="rate_limit"
            )
        values["rate_limit"] = rate_limit
    values = {field: value for field, value in values.items() if getattr(key, field) != value}
    if not values:
        return key
    if not await update_if(
        session, key, and_(ApiKey.rotated_to.is_(None), _still_live(now)), **values
    ):
        await session.refresh(key)
        raise _refusal(key, clock.now())  # the change that won happened after `now`
    await record(
        session,
        organization_id=key.organization_id,
        action="api_key.updated",
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        data={"changed": sorted(values), "name": key.name},
    )
    _evict_on_commit(session, key.id)
    return key


async def find_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def get_key(session: AsyncSession, organization_id: str, key_id: str) -> ApiKey:
    """Another organization's key answers exactly like a missing one."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.organization_id != organization_id:
        raise NotFound("API key", param="key_id")
    return key


async def list_keys(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int = 20,
    cursor: str | None = None,
    status: KeyStatus | None = None,
) -> tuple[list[ApiKey], bool, str | None]:
    query = select(ApiKey).where(ApiKey.organization_id == organization_id)
    now = clock.now()
    if status is KeyStatus.REVOKED:
        query = query.where(ApiKey.revoked_at.is_not(None), ApiKey.revoked_at <= now)
    elif status is not None:
        query = query.where((ApiKey.revoked_at.is_(None)) | (ApiKey.revoked_at > now))
        if status is KeyStatus.ACTIVE:
            query = query.where((ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now))
        else:
            query = query.where(ApiKey.expires_at <= now)
    return await paginate(
        session,
        query,
        created_at=ApiKey.created_at,
        id_column=ApiKey.id,
        limit=limit,
        cursor=cursor,
    )


def _still_live(now: datetime) -> ColumnElement[bool]:
    """Not revoked and not expired, judged by the row as the writing statement sees it.

    Any revocation at all counts, not only one before ``now``: ``now`` is read before the
    statement waits for the row, so a revocation committed meanwhile carries a later time,
    and comparing against it let a rotation mint a successor for a key revoked first."""
    return and_(
        ApiKey.revoked_at.is_(None),
        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
    )


async def revoke(session: AsyncSession, key: ApiKey, actor: Actor) -> ApiKey:
    """Final and idempotent: revoking a revoked key changes nothing and records nothing."""
    now = clock.now()
    if not await update_if(session, key, ApiKey.revoked_at.is_(None), revoked_at=now):
        await session.refresh(key)
        return key
    await record(
        session,
        organization_id=key.organization_id,
        action="api_key.revoked",
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        data={"name": key.name},
    )
    _evict_on_commit(session, key.id)
    await _emit(session, "api_key.revoked", key)
    return key


def _refusal(key: ApiKey, now: datetime) -> Conflict:
    state = status_of(key, now)
    if state is not KeyStatus.ACTIVE:
        return Conflict(
            f"key_{state.value}", f"This key is {state.value}; create a new key instead."
        )
    return Conflict(
        "already_rotated",
        f"This key was already rotated to {key.rotated_to}; rotate that key instead.",
    )


async def rotate(
    session: AsyncSession,
    org: Organization,
    key: ApiKey,
    actor: Actor,
    grace: timedelta = DEFAULT_GRACE,
) -> tuple[ApiKey, str]:
    """A new key with the same name, scopes, IP list, limit and lifetime; the old one ends after
    ``grace`` (0 revokes it at once)."""
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise APIError(
            "invalid_grace_period",
            "The grace period must be between 0 and 7 days.",
            param="grace_period",
        )
    now = clock.now()
    if status_of(key, now) is not KeyStatus.ACTIVE or key.rotated_to is not None:
        raise _refusal(key, now)
    lifetime = key.expires_at - key.created_at if key.expires_at else None
    # The old row is claimed first, in one conditional UPDATE: of concurrent rotations (or a
    # rotation and a revocation) exactly one gets it; the others mint nothing.
    new_key_id = new_id("key")
    ends: dict[str, datetime | None] = (
        {"revoked_at": now}
        if grace == timedelta(0)
        else {"expires_at": min(key.expires_at, now + grace) if key.expires_at else now + grace}
    )
    claimed = await update_if(
        session,
        key,
        and_(ApiKey.rotated_to.is_(None), _still_live(now)),
        rotated_to=new_key_id,
        **ends,
    )
    if not claimed:
        await session.refresh(key)
        raise _refusal(key, clock.now())  # the change that won happened after `now`
    new_key, plaintext = await create_key(
        session,
        org,
        name=key.name,
        scopes=list(key.scopes),
        actor=actor,
        expires_at=now + lifetime if lifetime else None,
        allowed_ips=key.allowed_ips,
        rate_limit=key.rate_limit,
        key_id=new_key_id,
    )
    new_key.rotated_from = key.id
    await session.flush()
    await record(
        session,
        organization_id=key.organization_id,
        action="api_key.rotated",
        actor=actor,
        target_type="api_key",
        target_id=key.id,
        data={
            "new_key_id": new_key.id,
            "grace_seconds": int(grace.total_seconds()),
            "old_key_ends_at": rfc3339(key.revoked_at or key.expires_at or now),
        },
    )
    _evict_on_commit(session, key.id)
    await _emit(session, "api_key.rotated", key)
    return new_key, plaintext


async def revoke_leaked(
    session: AsyncSession, tokens: list[str], *, source: str, ip: str | None = None
) -> set[str]:
    """Revoke every active key among ``tokens`` at once; returns the hashes of all real keys.

    Each revocation is one conditional UPDATE, so a key reported twice at the same moment is
    revoked, audited and announced (``api_key.leaked``) once. Malformed tokens never reach the
    database. The caller decides what, if anything, to tell the reporter."""
    hashes = {
        keyformat.hash_key(token) for token in tokens if keyformat.format_problem(token) is None
    }
    if not hashes:
        return set()
    keys = list((await session.scalars(select(ApiKey).where(ApiKey.key_hash.in_(hashes)))).all())
    now = clock.now()
    actor = Actor(LEAK_REPORTER.type, None, ip)
    for key in keys:
        result = await session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key.id,
                _still_live(now),
            )
            .values(revoked_at=now, leaked_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        await session.refresh(key)
        await record(
            session,
            organization_id=key.organization_id,
            action="api_key.revoked",
            actor=actor,
            target_type="api_key",
            target_id=key.id,
            data={"name": key.name, "reason": "leaked", "source": source},
        )
        _evict_on_commit(session, key.id)
        await _emit(session, "api_key.leaked", key)
    return {key.key_hash for key in keys}
