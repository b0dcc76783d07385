"""Verified keys cached in process, so a hot request authenticates without the database.

An entry lives ``ttl`` seconds (monotonic time): that bounds how long a revocation made by
another process (the CLI, another server) can go unnoticed. Changes made in this process evict
their entries the moment they commit.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from botyard.api_keys.models import ApiKey, effective_scopes
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


def snapshot(key: ApiKey, org: Organization) -> VerifiedKey:
    networks = (
        tuple(ipaddress.ip_network(n, strict=False) for n in key.allowed_ips)
        if key.allowed_ips
        else None
    )
    return VerifiedKey(
        id=key.id,
        name=key.name,
        hint=key.hint,
        organization_id=org.id,
        organization_name=org.name,
        plan=Plan(org.plan),
        granted_scopes=tuple(key.scopes),
        scopes=effective_scopes(key.scopes),
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        allowed_networks=networks,
        key_rate_limit=key.rate_limit,
        organization_rate_limit=org.rate_limit,
    )


@dataclass(slots=True)
class KeyCache:
    ttl: float = 0.5
    _entries: dict[str, tuple[float, VerifiedKey]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    _generation: int = 0
    """Bumped by every eviction, so a read that raced one does not put stale state back."""

    def get(self, key_hash: str) -> VerifiedKey | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        loaded_at, verified = entry
        if time.monotonic() - loaded_at > self.ttl:
            del self._entries[key_hash]
            return None
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

    async def lookup(
        self, key_hash: str, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> VerifiedKey | None:
        """The cached entry, or one read from the database (unknown keys are not cached)."""
        verified = self.get(key_hash)
        if verified is not None:
            self.hits += 1
            return verified
        self.misses += 1
        generation = self._generation
        async with sessionmaker() as session:
            row = (
                await session.execute(
                    select(ApiKey, Organization)
                    .join(Organization, Organization.id == ApiKey.organization_id)
                    .where(ApiKey.key_hash == key_hash)
                )
            ).first()
        if row is None:
            return None
        verified = snapshot(row[0], row[1])
        if generation == self._generation:
            self.put(key_hash, verified)
        return verified


key_cache = KeyCache()
