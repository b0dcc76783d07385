"""/v1/api-keys: the organization's keys, managed with an admin key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.api_keys import service
from botyard.api_keys.deps import AdminKey
from botyard.api_keys.models import ApiKey
from botyard.api_keys.schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyRotated,
    CreateApiKey,
    RotateApiKey,
    UpdateApiKey,
)
from botyard.api_keys.service import KeyStatus
from botyard.api_keys.warnings import warnings_for
from botyard.core import clock
from botyard.core.database import DBSession
from botyard.core.errors import NotFound
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse
from botyard.core.params import AnyIfBlank, Cursor, Limit
from botyard.organizations.models import Organization

router = APIRouter(prefix="/v1/api-keys", tags=["API keys"])


async def _shown(session: AsyncSession, keys: list[ApiKey]) -> list[ApiKeyOut]:
    now = clock.now()
    warnings = await warnings_for(session, keys, now)
    return [ApiKeyOut.of(k, service.status_of(k, now), warnings.get(k.id)) for k in keys]


async def _organization(session: AsyncSession, organization_id: str) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("organization")
    return org


@router.get("", summary="List the organization's API keys, newest first")
async def list_api_keys(
    principal: AdminKey,
    session: DBSession,
    status: Annotated[
        KeyStatus | None, Query(description="Only keys in this status"), AnyIfBlank
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ListResponse[ApiKeyOut]:
    keys, has_more, next_cursor = await service.list_keys(
        session, principal.organization_id, limit=limit, cursor=cursor, status=status
    )
    return ListResponse[ApiKeyOut](
        data=await _shown(session, keys), has_more=has_more, next_cursor=next_cursor
    )


@router.post(
    "",
    status_code=201,
    summary="Create an API key (the key is in this response only)",
    description="The response's `key` is the only time the key is shown: store it at once. "
    "A key never creates a key with a scope it lacks itself.",
)
async def create_api_key(
    principal: AdminKey, session: DBSession, body: CreateApiKey
) -> ApiKeyCreated:
    org = await _organization(session, principal.organization_id)
    key, plaintext = await service.create_key(
        session,
        org,
        name=body.name,
        scopes=list(body.scopes),
        actor=principal.actor,
        expires_at=body.expiry(clock.now()),
        allowed_ips=body.allowed_ips,
        rate_limit=body.rate_limit,
        creator_scopes=principal.scopes,
    )
    (shown,) = await _shown(session, [key])
    return ApiKeyCreated(**shown.model_dump(), key=plaintext)


@router.get("/{key_id}", summary="Get an API key")
async def get_api_key(principal: AdminKey, session: DBSession, key_id: str) -> ApiKeyOut:
    key = await service.get_key(session, principal.organization_id, key_id)
    (shown,) = await _shown(session, [key])
    return shown


@router.patch(
    "/{key_id}",
    summary="Update an API key's name, scopes, IP allow-list or rate limit",
    description="Only the fields sent change. `allowed_ips: null` allows any address and "
    "`rate_limit: null` returns the key to the organization's limit. The key itself never "
    "changes (rotate it for that), and a key never grants a scope it lacks itself.",
)
async def update_api_key(
    principal: AdminKey, session: DBSession, key_id: str, body: UpdateApiKey
) -> ApiKeyOut:
    key = await service.get_key(session, principal.organization_id, key_id)
    await service.update_key(
        session, key, body.changes(), principal.actor, creator_scopes=principal.scopes
    )
    (shown,) = await _shown(session, [key])
    return shown


@router.delete(
    "/{key_id}",
    summary="Revoke an API key",
    description="Revocation is final and takes effect at once on every server (within a "
    "second). Revoking a revoked key changes nothing.",
)
async def revoke_api_key(principal: AdminKey, session: DBSession, key_id: str) -> ApiKeyOut:
    key = await service.get_key(session, principal.organization_id, key_id)
    await service.revoke(session, key, principal.actor)
    (shown,) = await _shown(session, [key])
    return shown


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    summary="Rotate an API key: a new key now, the old one ends after a grace period",
    description="The new key has the same name, scopes, IP allow-list, rate limit and lifetime. "
    "The old key keeps working for `grace_period` (default 24 hours, at most 7 days); 0 "
    "revokes it at once. The new key is shown in this response only.",
)
async def rotate_api_key(
    principal: AdminKey,
    session: DBSession,
    key_id: str,
    body: RotateApiKey | None = None,
) -> ApiKeyRotated:
    old = await service.get_key(session, principal.organization_id, key_id)
    org = await _organization(session, principal.organization_id)
    grace = (body or RotateApiKey()).grace()
    new, plaintext = await service.rotate(session, org, old, principal.actor, grace)
    new_shown, old_shown = await _shown(session, [new, old])
    return ApiKeyRotated(**new_shown.model_dump(), key=plaintext, previous_key=old_shown)
