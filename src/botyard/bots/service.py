"""Bot rules. Every query is scoped to the caller's organization."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots.models import Bot
from botyard.core.pagination import paginate


async def list_bots(
    session: AsyncSession, organization_id: str, *, limit: int, cursor: str | None
) -> tuple[list[Bot], bool, str | None]:
    query = select(Bot).where(Bot.organization_id == organization_id)
    return await paginate(
        session, query, created_at=Bot.created_at, id_column=Bot.id, limit=limit, cursor=cursor
    )
