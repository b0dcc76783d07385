from typing import Annotated

from fastapi import APIRouter, Query

from botyard.api_keys.deps import AdminKey
from botyard.core import clock
from botyard.core.database import DBSession
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse, list_of
from botyard.core.params import AnyIfBlank, Cursor, Limit, TimeFilter
from botyard.requestlog import service
from botyard.requestlog.schemas import RequestLogOut, UsageBucket, UsageResponse

router = APIRouter(prefix="/v1/logs", tags=["request logs"])

KeyFilter = Annotated[str | None, Query(description="Only requests made with this key (`key_…`)")]
Since = Annotated[
    TimeFilter | None, Query(description="RFC 3339 time; requests at or after it (inclusive)")
]
Until = Annotated[
    TimeFilter | None, Query(description="RFC 3339 time; requests before it (exclusive)")
]


@router.get(
    "",
    summary="Request log of the organization, newest first",
    description="Every /v1 request of the organization, including refused ones. Rows are "
    "written in batches, so the latest second or so of traffic may not be listed yet.",
)
async def list_logs(
    principal: AdminKey,
    session: DBSession,
    key_id: KeyFilter = None,
    status: Annotated[
        str | None,
        Query(description="An exact status such as `429`, or a class such as `4xx`"),
        AnyIfBlank,
    ] = None,
    since: Since = None,
    until: Until = None,
    route: Annotated[
        str | None, Query(description="A route template, e.g. `/v1/bots/{bot_id}`")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ListResponse[RequestLogOut]:
    filters = service.LogFilters(
        key_id=key_id, status=status, since=since, until=until, route=route
    )
    return list_of(
        RequestLogOut,
        await service.list_logs(
            session, principal.organization_id, filters, limit=limit, cursor=cursor
        ),
    )


@router.get(
    "/usage",
    summary="Requests per hour, per key and status class (for usage charts)",
    description="Defaults to the last 24 hours; at most 93 days. Hours without requests are "
    "omitted. Requests whose key was not recognised have `key_id` null.",
)
async def usage(
    principal: AdminKey,
    session: DBSession,
    since: Since = None,
    until: Until = None,
    key_id: KeyFilter = None,
) -> UsageResponse:
    start, end = service.usage_range(since, until, clock.now())
    rows = await service.usage_by_hour(
        session, principal.organization_id, start, end, key_id=key_id
    )
    return UsageResponse(
        since=start,
        until=end,
        key_id=key_id,
        total=sum(r.requests for r in rows),
        data=[
            UsageBucket(
                hour=r.hour, key_id=r.key_id, status_class=r.status_class, requests=r.requests
            )
            for r in rows
        ],
    )
