"""Analytics: conversation and message figures per organization or bot, totals and series."""

from typing import Annotated

from fastapi import APIRouter, Query

from botyard.analytics import service
from botyard.analytics.schemas import Analytics, Interval
from botyard.api_keys.deps import ReadKey
from botyard.bots import service as bots
from botyard.core.database import DBReader
from botyard.core.params import Time

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])


@router.get("", summary="Totals and an hourly or daily series for the organization or one bot")
async def get_analytics(
    principal: ReadKey,
    reader: DBReader,
    bot_id: Annotated[str | None, Query(description="Only this bot; all bots if left out")] = None,
    from_: Annotated[
        Time | None,
        Query(alias="from", description="Start (inclusive, RFC 3339); default: 7 days before `to`"),
    ] = None,
    to: Annotated[Time | None, Query(description="End (exclusive, RFC 3339); default: now")] = None,
    interval: Annotated[
        Interval, Query(description="`day` (up to 366 days) or `hour` (up to 31 days)")
    ] = "day",
) -> Analytics:
    start, end = service.resolve_period(from_, to, interval)
    if bot_id is not None:
        await bots.read_bot(reader, principal.organization_id, bot_id)
    return await service.compute(
        reader, principal.organization_id, bot_id=bot_id, start=start, end=end, interval=interval
    )
