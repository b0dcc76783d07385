"""What GET /v1/logs and GET /v1/logs/usage answer."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from botyard.core.timefmt import UTCTimestamp

WIDGET_ROUTES = "/v1/widget/"


class RequestLogOut(BaseModel):
    """One logged API request. Never the key, never a body."""

    model_config = ConfigDict(from_attributes=True)

    object: Literal["request_log"] = "request_log"
    id: str
    created_at: UTCTimestamp
    key_id: str | None = Field(
        description="The key presented, when it belonged to this organization"
    )
    method: str
    route: str = Field(description="Route template, e.g. /v1/bots/{bot_id}")
    status: int
    error_code: str | None
    latency_ms: float
    ip: str | None
    user_agent: str | None
    request_id: str = Field(description="The X-Request-Id the response carried")

    @computed_field(  # type: ignore[prop-decorator]
        description="`widget` for the website widget's routes (a publishable key, never "
        "charged to the API budget), `api` for the rest"
    )
    @property
    def source(self) -> Literal["api", "widget"]:
        return "widget" if self.route.startswith(WIDGET_ROUTES) else "api"


class UsageBucket(BaseModel):
    hour: UTCTimestamp = Field(description="Start of the hour")
    key_id: str | None
    status_class: Literal["1xx", "2xx", "3xx", "4xx", "5xx"]
    requests: int


class UsageResponse(BaseModel):
    """Requests per hour, per key and per status class; hours without requests are omitted."""

    object: Literal["usage"] = "usage"
    interval: Literal["hour"] = "hour"
    since: UTCTimestamp
    until: UTCTimestamp
    key_id: str | None
    total: int
    data: list[UsageBucket]
