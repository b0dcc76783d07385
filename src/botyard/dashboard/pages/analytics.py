"""Analytics: totals and charts of conversations, messages and the answered rate."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response

from botyard.analytics import service as analytics
from botyard.analytics.schemas import Interval
from botyard.bots import service as bots
from botyard.core import clock
from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard import charts
from botyard.dashboard.deps import CurrentMember, PageError
from botyard.dashboard.web import DashboardRoute, render

router = APIRouter(route_class=DashboardRoute)

RangeName = Literal["24h", "7d", "30d", "90d"]
RANGES: dict[str, tuple[str, Interval, int]] = {
    "24h": ("Last 24 hours", "hour", 24),
    "7d": ("Last 7 days", "day", 7),
    "30d": ("Last 30 days", "day", 30),
    "90d": ("Last 90 days", "day", 90),
}
DEFAULT_RANGE = "7d"


def period_for(range_name: str, now: datetime) -> tuple[datetime, datetime, Interval]:
    """Whole hours or days ending with the current one, so the last bar is "so far today"."""
    _, interval, count = RANGES[range_name]
    if interval == "hour":
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=count - 1)
    else:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=count - 1)
    return start, now, interval


def axis_label(at: datetime, interval: Interval) -> str:
    return at.strftime("%H:%M") if interval == "hour" else f"{at.strftime('%b')} {at.day}"


def rate_or_gap(value: float | None) -> float:
    return math.nan if value is None else value


@router.get("/analytics")
async def show_analytics(
    request: Request,
    session: DBSession,
    context: CurrentMember,
    bot_id: str | None = None,
    range: str = DEFAULT_RANGE,
) -> Response:
    if range not in RANGES:
        range = DEFAULT_RANGE
    bot_list, _, _ = await bots.list_bots(session, context.organization_id, limit=100, cursor=None)
    bot_id = bot_id or None
    if bot_id is not None and bot_id not in {b.id for b in bot_list}:
        raise PageError(404, "Not found", "There is no such bot in this organization.")
    start, end, interval = period_for(range, clock.now())
    try:
        result = await analytics.compute(
            session,
            context.organization_id,
            bot_id=bot_id,
            start=start,
            end=end,
            interval=interval,
        )
    except APIError as exc:
        raise PageError(400, "Invalid period", exc.message) from None
    labels = [axis_label(point.start, interval) for point in result.series]
    per = "hour" if interval == "hour" else "day"
    conversation_chart = charts.bar_chart(
        labels,
        [charts.Series("Conversations", [p.conversations for p in result.series])],
        title=f"Conversations per {per}",
    )
    message_chart = charts.bar_chart(
        labels,
        [
            charts.Series("End-user messages", [p.user_messages for p in result.series]),
            charts.Series("Bot messages", [p.bot_messages for p in result.series]),
        ],
        title=f"Messages per {per}",
    )
    users_chart = charts.bar_chart(
        labels,
        [charts.Series("Unique end users", [p.unique_end_users for p in result.series])],
        title=f"Unique end users per {per}",
    )
    rate_chart = charts.line_chart(
        labels,
        [
            charts.Series("Answered", [rate_or_gap(p.answered_rate) for p in result.series]),
            charts.Series("Fallback", [rate_or_gap(p.fallback_rate) for p in result.series]),
        ],
        title=f"Answered and fallback rate per {per}",
        y_format=charts.as_percent,
        y_max=1.0,
    )
    return render(
        request,
        "dashboard/analytics.html",
        context,
        active="analytics",
        result=result,
        totals=result.totals,
        bots=bot_list,
        bot_id=bot_id,
        range=range,
        ranges=RANGES,
        conversation_chart=conversation_chart,
        message_chart=message_chart,
        rate_chart=rate_chart,
        users_chart=users_chart,
    )
