"""Every table, imported in one place so Alembic and tests see the whole schema."""

from botyard.analytics.models import MessageHour
from botyard.api_keys.models import ApiKey, ApiKeyAddress
from botyard.audit.models import AuditEvent
from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations.models import Conversation, Message
from botyard.core.database import Base
from botyard.idempotency.models import IdempotencyRecord
from botyard.organizations.models import Organization
from botyard.requestlog.models import RequestLog
from botyard.team.models import Invitation
from botyard.users.models import Membership, PasswordReset, User, UserSession
from botyard.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from botyard.widget.models import PublishableKey, WidgetConversation

__all__ = [
    "ApiKey",
    "ApiKeyAddress",
    "AuditEvent",
    "Base",
    "Bot",
    "Conversation",
    "IdempotencyRecord",
    "Invitation",
    "KnowledgeEntry",
    "Membership",
    "Message",
    "MessageHour",
    "Organization",
    "PasswordReset",
    "PublishableKey",
    "RequestLog",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WidgetConversation",
]
