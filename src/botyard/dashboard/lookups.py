"""Names for ids: the dashboard shows people and keys, not ``usr_…`` and ``key_…``.

Read-only lookups scoped to one organization, batched so a page of rows costs two queries.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.api_keys.models import ApiKey
from botyard.users.models import User


async def user_emails(session: AsyncSession, user_ids: Iterable[str | None]) -> dict[str, str]:
    """Emails of the given users, former members included: the audit log must still say who
    did what. The ids come from the organization's own rows, so no other tenant is revealed."""
    wanted = {u for u in user_ids if u and u.startswith("usr_")}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(wanted)))
    return {row[0]: row[1] for row in rows}


async def key_labels(
    session: AsyncSession, organization_id: str, key_ids: Iterable[str | None]
) -> dict[str, str]:
    """``name (hint)`` for the organization's keys among ``key_ids``."""
    wanted = {k for k in key_ids if k and k.startswith("key_")}
    if not wanted:
        return {}
    rows = await session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.hint).where(
            ApiKey.id.in_(wanted), ApiKey.organization_id == organization_id
        )
    )
    return {row[0]: f"{row[1]} ({row[2]})" for row in rows}
