from fastapi import APIRouter
from fastapi.responses import Response

from botyard.account.schemas import Me, RateLimitResponse, RateLimitStatus
from botyard.api_keys.deps import AnyKey
from botyard.core.responses import PreparedJSON
from botyard.core.route_marks import NO_STORE
from botyard.core.timefmt import rfc3339
from botyard.ratelimit.enforce import NOT_COUNTED

router = APIRouter(prefix="/v1", tags=["account"])


@router.get(
    "/me",
    summary="Test your connection: the key, its organization, plan and limit",
    response_model=Me,
    openapi_extra=NO_STORE,
)
async def me(principal: AnyKey) -> Response:
    key = principal.key
    return PreparedJSON(
        {
            "object": "me",
            "key": {
                "id": key.id,
                "name": key.name,
                "hint": key.hint,
                "scopes": key.granted_scopes,
                "expires_at": rfc3339(key.expires_at) if key.expires_at else None,
            },
            "organization": {
                "id": key.organization_id,
                "name": key.organization_name,
                "plan": key.plan,  # a StrEnum member: serialized as its value
                "api_access": key.plan.has_api_access,
            },
            "rate_limit": RateLimitStatus.data(principal.rate_limit),
        }
    )


@router.get(
    "/rate_limit",
    summary="The organization's rate limit and usage (this call is not counted)",
    response_model=RateLimitResponse,
    openapi_extra={**NOT_COUNTED, **NO_STORE},
)
async def rate_limit(principal: AnyKey) -> Response:
    return PreparedJSON(
        {
            "object": "rate_limit",
            "rate_limit": RateLimitStatus.data(principal.rate_limit),
        }
    )
