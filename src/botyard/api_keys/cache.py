"""Verified keys cached in process, so a hot request authenticates without the database.

An entry lives ``ttl`` seconds (monotonic time): that bounds how long a revocation made by
another process (the CLI, another server) can go unnoticed. Changes made in this process evict
their entries the moment they commit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from botyard.api_keys.models import ApiKey, effective_scopes
from botyard.core.database import fetch_first
from botyard.core.outage import is_database_unavailable
from botyard.organizations.models import Organization, Plan

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """What authentication needs to know about a key and its organization."""

    id: str
    name: str
    hint: str
    organization_id: str
    organization_name: str
    plan: Plan
    granted_scopes: tuple[str, ...]
    scopes: frozenset[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    allowed_networks: tuple[IPNetwork, ...] | None
    key_rate_limit: int | None
    organization_rate_limit: int | None

    def ip_allowed(self, ip: str) -> bool:
        if self.allowed_networks is None:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.allowed_networks)


_KEYS = ApiKey.__table__.c
_ORGS = Organization.__table__.c
KEY_QUERY = (
    select(
        _KEYS.id,
        _KEYS.name,
        _KEYS.hint,
        _KEYS.scopes,
        _KEYS.expires_at,
        _KEYS.revoked_at,
        _KEYS.allowed_ips,
        _KEYS.rate_limit.label("key_rate_limit"),
        _ORGS.id.label("organization_id"),
        _ORGS.name.label("organization_name"),
        _ORGS.plan,
        _ORGS.rate_limit.label("organization_rate_limit"),
    )
    .join_from(ApiKey.__table__, Organization.__table__, _ORGS.id == _KEYS.organization_id)
    .where(_KEYS.key_hash == bindparam("key_hash"))
)
"""The columns verification needs, read with Core on a bare connection and built once (with a
bound parameter) so SQLAlchemy's compiled-statement cache is hit without rebuilding the query:
a cache miss costs about a third of loading ORM objects through a session."""


def snapshot(row: Row[*tuple[Any, ...]]) -> VerifiedKey:
    networks = (
        tuple(ipaddress.ip_network(n, strict=False) for n in row.allowed_ips)
        if row.allowed_ips
        else None
    )
    return VerifiedKey(
        id=row.id,
        name=row.name,
        hint=row.hint,
        organization_id=row.organization_id,
        organization_name=row.organization_name,
        plan=Plan(row.plan),
        granted_scopes=tuple(row.scopes),
        scopes=effective_scopes(row.scopes),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        allowed_networks=networks,
        key_rate_limit=row.key_rate_limit,
        organization_rate_limit=row.organization_rate_limit,
    )


@dataclass(slots=True)
class KeyCache:
    ttl: float = 0.5
    _entries: dict[str, tuple[float, VerifiedKey]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    _generation: int = 0
    """Bumped by every eviction, so a read that raced one does not put stale state back."""
    _loading: dict[str, tuple[int, asyncio.Future[object]]] = field(default_factory=dict)
    """Reads in flight, by key hash and the generation they started in."""

    def get(self, key_hash: str) -> VerifiedKey | None:
        """A fresh entry, or None (a stale one is dropped)."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > self.ttl:
            del self._entries[key_hash]
            return None
        return entry[1]

    def cached(self, key_hash: str) -> VerifiedKey | None:
        """A fresh entry, counted as a hit; None when the database must be asked."""
        verified = self.get(key_hash)
        if verified is not None:
            self.hits += 1
        return verified

    def put(self, key_hash: str, verified: VerifiedKey) -> None:
        self._entries[key_hash] = (time.monotonic(), verified)

    def evict_key(self, key_id: str) -> None:
        self._generation += 1
        for key_hash in [h for h, (_, v) in self._entries.items() if v.id == key_id]:
            del self._entries[key_hash]

    def evict_organization(self, organization_id: str) -> None:
        self._generation += 1
        stale = [h for h, (_, v) in self._entries.items() if v.organization_id == organization_id]
        for key_hash in stale:
            del self._entries[key_hash]

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    async def lookup(self, key_hash: str, engine: AsyncEngine) -> VerifiedKey | None:
        """The cached entry, or one read from the database (unknown keys are not cached)."""
        return self.cached(key_hash) or await self.load(key_hash, engine)

    async def load(self, key_hash: str, engine: AsyncEngine) -> VerifiedKey | None:
        """Read the key from the database, for a caller that just found no cached entry.

        Concurrent misses for one key share a single read: when an entry expires under load,
        every connection using that key misses at once (32 reads per refresh in bench/
        http_load.py before). A read that started before an eviction is not shared, so a
        request that arrives after a revocation never gets the key as it was before it.
        """
        loading = self._loading.get(key_hash)
        if loading is not None and loading[0] == self._generation:
            shared = await asyncio.shield(loading[1])
            if isinstance(shared, _Unreachable):
                raise shared.error  # reading again would wait another database timeout
            if shared is not _FAILED:
                return cast(VerifiedKey | None, shared)
        return await self._read(key_hash, engine)

    async def _read(self, key_hash: str, engine: AsyncEngine) -> VerifiedKey | None:
        self.misses += 1
        generation = self._generation
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._loading[key_hash] = (generation, future)
        shared: object = _FAILED
        try:
            row = await fetch_first(engine, KEY_QUERY, {"key_hash": key_hash})
            verified = None if row is None else snapshot(row)
            if verified is not None and generation == self._generation:
                self.put(key_hash, verified)
            shared = verified
            return verified
        except Exception as exc:
            if is_database_unavailable(exc):
                shared = _Unreachable(exc)
            raise
        finally:
            # A failed or cancelled read tells those waiting to read for themselves, unless
            # the database could not be reached: then they share that answer (a 503) at once.
            future.set_result(shared)
            if self._loading.get(key_hash, (None, None))[1] is future:
                del self._loading[key_hash]


_FAILED = object()
"""What a shared read hands its waiters when it raised or was cancelled."""


@dataclass(frozen=True, slots=True)
class _Unreachable:
    """What a shared read hands its waiters when the database did not answer."""

    error: Exception


key_cache = KeyCache()
