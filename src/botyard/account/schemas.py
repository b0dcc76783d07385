from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

from botyard.core.timefmt import UTCTimestamp, rfc3339
from botyard.ratelimit.limiter import Decision


class KeySummary(BaseModel):
    id: str
    name: str
    hint: str
    scopes: list[str]
    expires_at: UTCTimestamp | None


class OrganizationSummary(BaseModel):
    id: str
    name: str
    plan: str
    api_access: bool


class RateLimitStatus(BaseModel):
    limit: int
    remaining: int
    used: int
    reset: int
    reset_at: UTCTimestamp
    window_seconds: int

    @staticmethod
    def data(decision: Decision) -> dict[str, Any]:
        """This model's JSON form, built directly (see ``core.responses``)."""
        reset = decision.reset
        return {
            "limit": decision.limit,
            "remaining": decision.remaining,
            "used": decision.used,
            "reset": reset,
            "reset_at": _reset_text(reset),
            "window_seconds": decision.window,
        }


@lru_cache(maxsize=256)
def _reset_text(reset: int) -> str:
    """A window's end is the same for every request in it: format it once."""
    return rfc3339(datetime.fromtimestamp(reset, UTC))


class Me(BaseModel):
    object: Literal["me"] = "me"
    key: KeySummary
    organization: OrganizationSummary
    rate_limit: RateLimitStatus


class RateLimitResponse(BaseModel):
    object: Literal["rate_limit"] = "rate_limit"
    rate_limit: RateLimitStatus
