"""Request and response bodies of /v1/webhooks. The secret appears only in `WebhookEndpointCreated`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from botyard.core.timefmt import UTCTimestamp
from botyard.webhooks.events import ALL_EVENTS, EVENT_TYPES
from botyard.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from botyard.webhooks.ssrf import URL_MAX

DESCRIPTION_MAX = 500
EVENTS_DESCRIPTION = 'Event types to send, or `["*"]` for all of them: ' + ", ".join(
    f"`{e}`" for e in EVENT_TYPES
)


def _valid_events(events: list[str]) -> list[str]:
    if not events:
        raise ValueError('choose at least one event type, or ["*"] for all')
    unknown = [e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; choose from {', '.join(EVENT_TYPES)}")
    return [ALL_EVENTS] if ALL_EVENTS in events else list(dict.fromkeys(events))


class WebhookEndpointOut(BaseModel):
    """A webhook endpoint as the API shows it: never its signing secret."""

    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why Botyard disabled the endpoint (a 410 answer, or 5 days of failures)"
    )
    created_at: UTCTimestamp
    updated_at: UTCTimestamp

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            events=list(endpoint.events),
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`). Shown only in this response: store it now."
    )


class CreateWebhookEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=URL_MAX,
        description="Where events are POSTed: a public `https://` URL",
        examples=["https://example.com/botyard/webhooks"],
    )
    events: list[str] = Field(
        default_factory=lambda: [ALL_EVENTS],
        max_length=len(EVENT_TYPES) + 1,
        description=EVENTS_DESCRIPTION,
        examples=[["conversation.created", "message.unanswered"]],
    )
    description: str = Field("", max_length=DESCRIPTION_MAX)
    enabled: bool = True

    _events = field_validator("events")(_valid_events)


class UpdateWebhookEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=URL_MAX)
    events: list[str] | None = Field(
        None, max_length=len(EVENT_TYPES) + 1, description=EVENTS_DESCRIPTION
    )
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    enabled: bool | None = Field(
        None,
        description="false pauses deliveries; true resumes them, and re-enables an "
        "endpoint Botyard disabled",
    )

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str] | None) -> list[str] | None:
        return None if events is None else _valid_events(events)


class WebhookAttemptOut(BaseModel):
    at: UTCTimestamp
    response_status: int | None = Field(description="null when no answer came")
    duration_ms: int
    response_body: str = Field(description="The first 1 KB of the receiver's answer")
    error: str | None = Field(
        None, description="Why no answer came (timeout, connection refused, refused address)"
    )

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> WebhookAttemptOut:
        return cls(
            at=attempt.at,
            response_status=attempt.response_status,
            duration_ms=attempt.duration_ms,
            response_body=attempt.response_body,
            error=attempt.error,
        )


class WebhookDeliveryOut(BaseModel):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str
    endpoint_id: str
    event_id: str = Field(description="Sent as `webhook-id`, the same on every attempt")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    next_attempt_at: UTCTimestamp | None
    created_at: UTCTimestamp
    attempts: list[WebhookAttemptOut] = Field(description="Oldest first")

    @classmethod
    def of(cls, delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> WebhookDeliveryOut:
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            attempts=[WebhookAttemptOut.of(a) for a in attempts],
        )
