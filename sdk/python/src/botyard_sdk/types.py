"""The API's objects as frozen dataclasses, written from the server's OpenAPI schemas.

Times are timezone-aware ``datetime`` objects; lists are tuples. Fields whose values are a
fixed set (``status``, ``role``, …) are typed ``str`` on purpose: a value added by a newer
server reaches the caller instead of failing to parse. Keys this version does not know are
in ``extra_fields``. Secrets a response carries once (a new API key, an invitation token)
are left out of ``repr()`` so that logging an object never logs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from botyard_sdk._model import APIObject

__all__ = [
    "APIObject",
    "Analytics",
    "AnalyticsPoint",
    "AnalyticsTotals",
    "ApiKey",
    "ApiKeyCreated",
    "ApiKeyRotated",
    "AuditEvent",
    "Bot",
    "BotSettings",
    "Conversation",
    "ConversationStarted",
    "Deleted",
    "Exchange",
    "IdentitySecret",
    "Invitation",
    "InvitationCancelled",
    "InvitationCreated",
    "KeySummary",
    "KeyWarning",
    "KnowledgeEntry",
    "Me",
    "MemberRemoved",
    "Message",
    "OrganizationSummary",
    "Page",
    "PublishableKey",
    "RateLimit",
    "RateLimitResponse",
    "RequestLog",
    "TeamMember",
    "Usage",
    "UsageBucket",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEndpointCreated",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, and the cursor of the next page when there is one."""

    data: tuple[T, ...]
    has_more: bool
    next_cursor: str | None


# Account ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RateLimit(APIObject):
    __schema__ = "RateLimitStatus"
    limit: int
    remaining: int
    used: int
    reset: int
    """Epoch seconds at which the window ends."""
    reset_at: datetime
    window_seconds: int


@dataclass(frozen=True, kw_only=True)
class RateLimitResponse(APIObject):
    __schema__ = "RateLimitResponse"
    object: str = "rate_limit"
    rate_limit: RateLimit


@dataclass(frozen=True, kw_only=True)
class KeySummary(APIObject):
    __schema__ = "KeySummary"
    id: str
    name: str
    hint: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class OrganizationSummary(APIObject):
    __schema__ = "OrganizationSummary"
    id: str
    name: str
    plan: str
    api_access: bool


@dataclass(frozen=True, kw_only=True)
class Me(APIObject):
    """``GET /v1/me``: the key, its organization and plan, and the rate limit."""

    __schema__ = "Me"
    object: str = "me"
    key: KeySummary
    organization: OrganizationSummary
    rate_limit: RateLimit


# Bots ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Bot(APIObject):
    __schema__ = "BotOut"
    object: str = "bot"
    id: str
    name: str
    description: str
    status: str
    """``active`` or ``paused``."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class BotSettings(APIObject):
    __schema__ = "SettingsOut"
    object: str = "bot_settings"
    bot_id: str
    welcome_message: str
    fallback_message: str
    language: str
    answer_threshold: float
    widget_color: str
    widget_launcher_text: str
    identity_verification: bool


@dataclass(frozen=True, kw_only=True)
class KnowledgeEntry(APIObject):
    __schema__ = "KnowledgeOut"
    object: str = "knowledge_entry"
    id: str
    bot_id: str
    question: str
    answer: str
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class Deleted(APIObject):
    __schema__ = "Deleted"
    id: str
    object: str
    deleted: bool = True


# Conversations ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Message(APIObject):
    __schema__ = "MessageOut"
    object: str = "message"
    id: str
    conversation_id: str
    role: str
    """``user`` or ``bot``."""
    text: str
    answer_source: str | None
    """For bot messages: ``welcome``, ``knowledge`` or ``fallback``."""
    knowledge_id: str | None
    score: float | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Conversation(APIObject):
    __schema__ = "ConversationOut"
    object: str = "conversation"
    id: str
    bot_id: str
    external_user_id: str | None
    status: str
    """``open`` or ``closed``."""
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class ConversationStarted(Conversation):
    """A new conversation with its first message, the bot's welcome."""

    __schema__ = "ConversationStarted"
    messages: tuple[Message, ...]


@dataclass(frozen=True, kw_only=True)
class Exchange(APIObject):
    """The end user's message and the bot's reply to it."""

    __schema__ = "Exchange"
    object: str = "exchange"
    conversation_id: str
    message: Message
    reply: Message


# Analytics ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AnalyticsTotals(APIObject):
    __schema__ = "Figures"
    conversations: int
    user_messages: int
    bot_messages: int
    unique_end_users: int
    answered_rate: float | None
    fallback_rate: float | None
    messages_per_conversation: float | None


@dataclass(frozen=True, kw_only=True)
class AnalyticsPoint(AnalyticsTotals):
    __schema__ = "Point"
    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class Analytics(APIObject):
    __schema__ = "Analytics"
    __renames__: ClassVar[Mapping[str, str]] = {"from": "from_"}
    object: str = "analytics"
    bot_id: str | None
    from_: datetime
    to: datetime
    interval: str
    totals: AnalyticsTotals
    series: tuple[AnalyticsPoint, ...]


# Team ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TeamMember(APIObject):
    __schema__ = "TeamMemberOut"
    object: str = "team_member"
    id: str
    email: str
    name: str
    role: str
    """``owner``, ``admin`` or ``member``."""
    joined_at: datetime


@dataclass(frozen=True, kw_only=True)
class MemberRemoved(APIObject):
    __schema__ = "TeamMemberRemoved"
    object: str = "team_member"
    id: str
    deleted: bool = True


@dataclass(frozen=True, kw_only=True)
class Invitation(APIObject):
    __schema__ = "InvitationOut"
    object: str = "invitation"
    id: str
    email: str
    role: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    status: str


@dataclass(frozen=True, kw_only=True)
class InvitationCreated(Invitation):
    """A new invitation; ``token`` and ``accept_url`` are in this response only."""

    __schema__ = "InvitationCreated"
    token: str = field(repr=False)
    accept_url: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class InvitationCancelled(APIObject):
    __schema__ = "InvitationCancelled"
    object: str = "invitation"
    id: str
    deleted: bool = True


# API keys -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class KeyWarning(APIObject):
    __schema__ = "KeyWarning"
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ApiKey(APIObject):
    """An API key as the API shows it: a hint, never the key itself."""

    __schema__ = "ApiKeyOut"
    object: str = "api_key"
    id: str
    name: str
    scopes: tuple[str, ...]
    hint: str
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None
    revoked_at: datetime | None
    rotated_to: str | None
    rotated_from: str | None
    allowed_ips: tuple[str, ...] | None
    rate_limit: int | None
    status: str
    """``active``, ``expired`` or ``revoked``."""
    warnings: tuple[KeyWarning, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ApiKeyCreated(ApiKey):
    """A new key; ``key`` is the secret itself, shown in this response only (not in repr)."""

    __schema__ = "ApiKeyCreated"
    key: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ApiKeyRotated(ApiKeyCreated):
    """The new key of a rotation, and the old one with the end of its grace period."""

    __schema__ = "ApiKeyRotated"
    previous_key: ApiKey


# Webhooks ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WebhookEndpoint(APIObject):
    """Where events are sent; never its signing secret."""

    __schema__ = "WebhookEndpointOut"
    object: str = "webhook_endpoint"
    id: str
    url: str
    description: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class WebhookEndpointCreated(WebhookEndpoint):
    """A new endpoint or a rotated secret; ``secret`` is shown in this response only (not in
    repr). Pass it to :func:`botyard_sdk.webhooks.verify`."""

    __schema__ = "WebhookEndpointCreated"
    secret: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class WebhookAttempt(APIObject):
    __schema__ = "WebhookAttemptOut"
    at: datetime
    response_status: int | None
    duration_ms: int
    response_body: str
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class WebhookDelivery(APIObject):
    """One event for one endpoint, with every attempt to send it."""

    __schema__ = "WebhookDeliveryOut"
    object: str = "webhook_delivery"
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    """``pending``, ``succeeded`` or ``failed``."""
    next_attempt_at: datetime | None
    created_at: datetime
    attempts: tuple[WebhookAttempt, ...]


# The website widget ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PublishableKey(APIObject):
    """A bot's publishable key (``byp_…``): public by design, it goes in the embed snippet."""

    __schema__ = "PublishableKeyOut"
    object: str = "publishable_key"
    id: str
    key: str
    name: str
    bot_id: str
    allowed_origins: tuple[str, ...]
    status: str
    """``active`` or ``revoked``."""
    created_at: datetime
    revoked_at: datetime | None
    rotated_to: str | None
    rotated_from: str | None


@dataclass(frozen=True, kw_only=True)
class IdentitySecret(APIObject):
    """The key your server signs widget visitors' user ids with (not in repr)."""

    __schema__ = "IdentitySecretOut"
    object: str = "identity_secret"
    bot_id: str
    identity_secret: str = field(repr=False)
    identity_verification: bool


# Request logs and audit ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestLog(APIObject):
    __schema__ = "RequestLogOut"
    object: str = "request_log"
    id: str
    created_at: datetime
    key_id: str | None
    method: str
    route: str
    status: int
    error_code: str | None
    latency_ms: float
    ip: str | None
    user_agent: str | None
    request_id: str
    source: str
    """``widget`` for the website widget's routes, ``api`` for the rest."""


@dataclass(frozen=True, kw_only=True)
class UsageBucket(APIObject):
    __schema__ = "UsageBucket"
    hour: datetime
    key_id: str | None
    status_class: str
    requests: int


@dataclass(frozen=True, kw_only=True)
class Usage(APIObject):
    __schema__ = "UsageResponse"
    object: str = "usage"
    interval: str = "hour"
    since: datetime
    until: datetime
    key_id: str | None
    total: int
    data: tuple[UsageBucket, ...]


@dataclass(frozen=True, kw_only=True)
class AuditEvent(APIObject):
    __schema__ = "AuditEventOut"
    object: str = "audit_event"
    id: str
    action: str
    actor_type: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    data: Mapping[str, Any]
    created_at: datetime
