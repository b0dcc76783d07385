from fastapi import APIRouter, Request

from botyard.account.schemas import (
    KeySummary,
    Me,
    OrganizationSummary,
    RateLimitResponse,
    RateLimitStatus,
)
from botyard.api_keys.deps import AnyKey
from botyard.core.caching import NO_STORE
from botyard.ratelimit.enforce import NOT_COUNTED

router = APIRouter(prefix="/v1", tags=["account"])


@router.get(
    "/me",
    summary="Test your connection: the key, its organization, plan and limit",
    openapi_extra=NO_STORE,
)
async def me(principal: AnyKey, request: Request) -> Me:
    key = principal.key
    return Me(
        key=KeySummary(
            id=key.id,
            name=key.name,
            hint=key.hint,
            scopes=list(key.granted_scopes),
            expires_at=key.expires_at,
        ),
        organization=OrganizationSummary(
            id=key.organization_id,
            name=key.organization_name,
            plan=key.plan.value,
            api_access=key.plan.has_api_access,
        ),
        rate_limit=RateLimitStatus.of(
            request.state.rate_limit, request.app.state.settings.rate_limit_window
        ),
    )


@router.get(
    "/rate_limit",
    summary="The organization's rate limit and usage (this call is not counted)",
    openapi_extra={**NOT_COUNTED, **NO_STORE},
)
async def rate_limit(principal: AnyKey, request: Request) -> RateLimitResponse:
    return RateLimitResponse(
        rate_limit=RateLimitStatus.of(
            request.state.rate_limit, request.app.state.settings.rate_limit_window
        )
    )
