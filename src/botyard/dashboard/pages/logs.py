"""Logs: API usage per hour by status and by key, and the request log with filters.

Visible to owners and admins, like ``GET /v1/logs`` which needs the admin scope.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from botyard.api_keys import service as keys
from botyard.core import clock
from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard import charts
from botyard.dashboard.deps import CurrentMember, DashboardContext, forbidden
from botyard.dashboard.web import DashboardRoute, render
from botyard.requestlog import service as requestlog
from botyard.requestlog.schemas import WIDGET_ROUTES
from botyard.widget import service as widget

router = APIRouter(route_class=DashboardRoute)

PAGE_SIZE = 50
USAGE_RANGES = {"24h": ("Last 24 hours", 24), "7d": ("Last 7 days", 7 * 24)}
DEFAULT_USAGE_RANGE = "24h"
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
TOP_KEYS = 5
STATUS_CHOICES = ("2xx", "4xx", "5xx", "401", "403", "404", "429")


def require_log_access(context: DashboardContext) -> None:
    if not context.manages:
        raise forbidden(
            "Request logs are visible to Admins and Owners only, like the API's admin scope. "
            f"Your role in {context.organization_name} is {context.role.value.capitalize()}."
        )


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    hours = []
    at = start
    while at < end:
        hours.append(at)
        at += timedelta(hours=1)
    return hours


def hour_label(at: datetime, span_hours: int) -> str:
    return at.strftime("%H:%M") if span_hours <= 24 else f"{at.strftime('%b')} {at.day} {at:%H}h"


def usage_charts(
    rows: list[requestlog.UsageRow], hours: list[datetime], key_names: dict[str, str]
) -> tuple[object, object]:
    """Stacked hourly bars: one chart by status class, one by key (top keys, then the rest)."""
    index = {hour: i for i, hour in enumerate(hours)}
    labels = [hour_label(h, len(hours)) for h in hours]
    by_status: dict[str, list[float]] = {c: [0.0] * len(hours) for c in STATUS_CLASSES}
    by_key: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(hours))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        i = index.get(row.hour)
        if i is None:
            continue
        by_status.setdefault(row.status_class, [0.0] * len(hours))[i] += row.requests
        key = row.key_id or ""
        by_key[key][i] += row.requests
        totals[key] += row.requests
    status_series = [charts.Series(c, v) for c, v in by_status.items() if any(v)]
    ranked = sorted((k for k in totals if k), key=lambda k: -totals[k])
    key_series = [charts.Series(key_names.get(k, k), by_key[k]) for k in ranked[:TOP_KEYS]]
    others = ranked[TOP_KEYS:]
    if others:
        merged = [sum(by_key[k][i] for k in others) for i in range(len(hours))]
        key_series.append(charts.Series("Other keys", merged))
    if "" in totals:
        key_series.append(charts.Series("No valid key", by_key[""]))
    return (
        charts.bar_chart(
            labels, status_series, title="API requests per hour by status", legend=True
        ),
        charts.bar_chart(labels, key_series, title="API requests per hour by key", legend=True),
    )


def parse_day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        return None


@router.get("/logs")
async def show_logs(
    request: Request,
    session: DBSession,
    context: CurrentMember,
    usage: str = DEFAULT_USAGE_RANGE,
    key_id: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
) -> Response:
    require_log_access(context)
    usage = usage if usage in USAGE_RANGES else DEFAULT_USAGE_RANGE
    key_id, status = key_id or None, (status or "").strip() or None
    api_keys, _, _ = await keys.list_keys(session, context.organization_id, limit=100, cursor=None)
    key_names = {k.id: f"{k.name} ({k.hint})" for k in api_keys}
    key_names |= await widget.key_names(session, context.organization_id)

    now = clock.now()
    span = USAGE_RANGES[usage][1]
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=span - 1)
    usage_rows = await requestlog.usage_by_hour(session, context.organization_id, start, now)
    status_chart, key_chart = usage_charts(usage_rows, hours_between(start, now), key_names)
    total_requests = sum(r.requests for r in usage_rows)
    failed_requests = sum(r.requests for r in usage_rows if r.status_class[0] in "45")

    since_at, until_day = parse_day(since), parse_day(until)
    until_at = until_day + timedelta(days=1) if until_day else None
    error = None
    rows: list[object] = []
    next_url = None
    try:
        page, has_more, next_cursor = await requestlog.list_logs(
            session,
            context.organization_id,
            requestlog.LogFilters(key_id=key_id, status=status, since=since_at, until=until_at),
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        rows = list(page)
        if has_more and next_cursor:
            filters = {"usage": usage, "key_id": key_id, "status": status}
            filters |= {"since": since, "until": until, "cursor": next_cursor}
            next_url = "/dashboard/logs?" + urlencode({k: v for k, v in filters.items() if v})
    except APIError as exc:
        error = exc.message
    return render(
        request,
        "dashboard/logs.html",
        context,
        status_code=400 if error else 200,
        active="logs",
        usage=usage,
        usage_ranges=USAGE_RANGES,
        status_chart=status_chart,
        key_chart=key_chart,
        total_requests=total_requests,
        failed_requests=failed_requests,
        rows=rows,
        keys=api_keys,
        key_names=key_names,
        filters={"key_id": key_id, "status": status, "since": since, "until": until},
        status_choices=STATUS_CHOICES,
        error=error,
        widget_routes=WIDGET_ROUTES,
        next_url=next_url,
        paged=bool(cursor),
    )
