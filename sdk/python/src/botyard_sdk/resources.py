"""The API's resources, defined once for both clients (see :mod:`botyard_sdk._operations`).

Each method names its row of :data:`botyard_sdk._routes.ROUTES` and says what to send.
Optional arguments left as None are not sent, so an update changes only what it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from botyard_sdk._engine import AsyncTransport, SyncTransport
from botyard_sdk._operations import (
    Call,
    Clear,
    M,
    Resource,
    duration,
    given,
    list_operation,
    operation,
    timestamp,
)
from botyard_sdk.types import (
    Analytics,
    ApiKey,
    ApiKeyCreated,
    ApiKeyRotated,
    AuditEvent,
    Bot,
    BotSettings,
    Conversation,
    ConversationStarted,
    Deleted,
    Exchange,
    IdentitySecret,
    Invitation,
    InvitationCancelled,
    InvitationCreated,
    KnowledgeEntry,
    Me,
    MemberRemoved,
    Message,
    PublishableKey,
    RateLimitResponse,
    RequestLog,
    TeamMember,
    Usage,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreated,
)

Transport = SyncTransport | AsyncTransport


class Settings(Resource[M]):
    """A bot's reply settings: ``/v1/bots/{bot_id}/settings``."""

    @operation("bots.settings.retrieve", BotSettings.from_api)
    def retrieve(self, bot_id: str) -> Call:
        return Call(path={"bot_id": bot_id})

    @operation("bots.settings.update", BotSettings.from_api)
    def update(
        self,
        bot_id: str,
        *,
        welcome_message: str | None = None,
        fallback_message: str | None = None,
        language: str | None = None,
        answer_threshold: float | None = None,
        widget_color: str | None = None,
        widget_launcher_text: str | None = None,
        identity_verification: bool | None = None,
    ) -> Call:
        return Call(
            path={"bot_id": bot_id},
            body=given(
                welcome_message=welcome_message,
                fallback_message=fallback_message,
                language=language,
                answer_threshold=answer_threshold,
                widget_color=widget_color,
                widget_launcher_text=widget_launcher_text,
                identity_verification=identity_verification,
            ),
        )


class Knowledge(Resource[M]):
    """A bot's knowledge base: ``/v1/bots/{bot_id}/knowledge``."""

    @list_operation("bots.knowledge.list", KnowledgeEntry.from_api)
    def list(self, bot_id: str, *, limit: int | None = None, cursor: str | None = None) -> Call:
        return Call(path={"bot_id": bot_id}, query={"limit": limit, "cursor": cursor})

    @operation("bots.knowledge.create", KnowledgeEntry.from_api)
    def create(
        self, bot_id: str, *, question: str, answer: str, tags: Sequence[str] | None = None
    ) -> Call:
        tag_list = list(tags) if tags is not None else None
        return Call(
            path={"bot_id": bot_id}, body=given(question=question, answer=answer, tags=tag_list)
        )

    @operation("bots.knowledge.retrieve", KnowledgeEntry.from_api)
    def retrieve(self, bot_id: str, kb_id: str) -> Call:
        return Call(path={"bot_id": bot_id, "kb_id": kb_id})

    @operation("bots.knowledge.update", KnowledgeEntry.from_api)
    def update(
        self,
        bot_id: str,
        kb_id: str,
        *,
        question: str | None = None,
        answer: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Call:
        tag_list = list(tags) if tags is not None else None
        return Call(
            path={"bot_id": bot_id, "kb_id": kb_id},
            body=given(question=question, answer=answer, tags=tag_list),
        )

    @operation("bots.knowledge.delete", Deleted.from_api)
    def delete(self, bot_id: str, kb_id: str) -> Call:
        return Call(path={"bot_id": bot_id, "kb_id": kb_id})


class PublishableKeys(Resource[M]):
    """A bot's website-widget keys: ``/v1/bots/{bot_id}/publishable-keys`` (write keys)."""

    @list_operation("bots.publishable_keys.list", PublishableKey.from_api)
    def list(self, bot_id: str) -> Call:
        return Call(path={"bot_id": bot_id})

    @operation("bots.publishable_keys.create", PublishableKey.from_api)
    def create(
        self, bot_id: str, *, allowed_origins: Sequence[str], name: str | None = None
    ) -> Call:
        """A ``byp_…`` key for the embed snippet, usable from ``allowed_origins`` only."""
        return Call(
            path={"bot_id": bot_id},
            body=given(name=name, allowed_origins=list(allowed_origins)),
        )

    @operation("bots.publishable_keys.revoke", PublishableKey.from_api)
    def revoke(self, bot_id: str, key_id: str) -> Call:
        return Call(path={"bot_id": bot_id, "key_id": key_id})

    @operation("bots.publishable_keys.rotate", PublishableKey.from_api)
    def rotate(self, bot_id: str, key_id: str) -> Call:
        """A new key with the same name and origins; the old one stops at once."""
        return Call(path={"bot_id": bot_id, "key_id": key_id})


class IdentitySecrets(Resource[M]):
    """A bot's identity secret for widget visitor verification (admin keys)."""

    @operation("bots.identity_secret.retrieve", IdentitySecret.from_api)
    def retrieve(self, bot_id: str) -> Call:
        return Call(path={"bot_id": bot_id})

    @operation("bots.identity_secret.rotate", IdentitySecret.from_api)
    def rotate(self, bot_id: str) -> Call:
        return Call(path={"bot_id": bot_id})


class Bots(Resource[M]):
    """``/v1/bots``, with ``settings``, ``knowledge``, ``publishable_keys`` and
    ``identity_secret`` below each bot."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.settings: Settings[M] = Settings(transport)
        self.knowledge: Knowledge[M] = Knowledge(transport)
        self.publishable_keys: PublishableKeys[M] = PublishableKeys(transport)
        self.identity_secret: IdentitySecrets[M] = IdentitySecrets(transport)

    @list_operation("bots.list", Bot.from_api)
    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Call:
        return Call(query={"limit": limit, "cursor": cursor})

    @operation("bots.create", Bot.from_api)
    def create(
        self,
        *,
        name: str,
        description: str | None = None,
        status: str | None = None,
        welcome_message: str | None = None,
        fallback_message: str | None = None,
        language: str | None = None,
        answer_threshold: float | None = None,
        widget_color: str | None = None,
        widget_launcher_text: str | None = None,
        identity_verification: bool | None = None,
    ) -> Call:
        """Create a bot, optionally with its reply and website-widget settings."""
        return Call(
            body=given(
                name=name,
                description=description,
                status=status,
                welcome_message=welcome_message,
                fallback_message=fallback_message,
                language=language,
                answer_threshold=answer_threshold,
                widget_color=widget_color,
                widget_launcher_text=widget_launcher_text,
                identity_verification=identity_verification,
            )
        )

    @operation("bots.retrieve", Bot.from_api)
    def retrieve(self, bot_id: str) -> Call:
        return Call(path={"bot_id": bot_id})

    @operation("bots.update", Bot.from_api)
    def update(
        self,
        bot_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        status: str | None = None,
    ) -> Call:
        """Rename, describe, pause (``status="paused"``) or resume a bot."""
        return Call(
            path={"bot_id": bot_id}, body=given(name=name, description=description, status=status)
        )

    @operation("bots.delete", Deleted.from_api)
    def delete(self, bot_id: str) -> Call:
        """Delete a bot with its knowledge and conversations."""
        return Call(path={"bot_id": bot_id})


class Messages(Resource[M]):
    """A conversation's messages, oldest first: ``/v1/conversations/{id}/messages``."""

    @list_operation("conversations.messages.list", Message.from_api)
    def list(
        self, conversation_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Call:
        return Call(
            path={"conversation_id": conversation_id}, query={"limit": limit, "cursor": cursor}
        )


class Conversations(Resource[M]):
    """Conversations with bots: start, chat (the reply comes back), read and close."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.messages: Messages[M] = Messages(transport)

    @operation("conversations.create", ConversationStarted.from_api)
    def create(self, bot_id: str, *, external_user_id: str | None = None) -> Call:
        """Start a conversation on a bot; it opens with the bot's welcome message."""
        return Call(path={"bot_id": bot_id}, body=given(external_user_id=external_user_id))

    @list_operation("conversations.list", Conversation.from_api)
    def list(
        self,
        *,
        bot_id: str | None = None,
        status: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Call:
        return Call(
            query={
                "bot_id": bot_id,
                "status": status,
                "since": since,
                "until": until,
                "limit": limit,
                "cursor": cursor,
            }
        )

    @operation("conversations.retrieve", Conversation.from_api)
    def retrieve(self, conversation_id: str) -> Call:
        return Call(path={"conversation_id": conversation_id})

    @operation("conversations.close", Conversation.from_api)
    def close(self, conversation_id: str) -> Call:
        return Call(path={"conversation_id": conversation_id}, body={"status": "closed"})

    @operation("conversations.send", Exchange.from_api)
    def send(self, conversation_id: str, text: str) -> Call:
        """Send the end user's message; the answer carries the bot's reply."""
        return Call(path={"conversation_id": conversation_id}, body={"text": text})


class AnalyticsResource(Resource[M]):
    """Conversation and message figures: ``/v1/analytics``."""

    @operation("analytics.retrieve", Analytics.from_api)
    def retrieve(
        self,
        *,
        bot_id: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        interval: str | None = None,
    ) -> Call:
        """Totals and an ``hour`` or ``day`` series, for the organization or one bot."""
        return Call(query={"bot_id": bot_id, "from": from_, "to": to, "interval": interval})


class Members(Resource[M]):
    """The organization's members: ``/v1/team/members`` (admin keys)."""

    @list_operation("team.members.list", TeamMember.from_api)
    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Call:
        return Call(query={"limit": limit, "cursor": cursor})

    @operation("team.members.invite", InvitationCreated.from_api)
    def invite(self, *, email: str, role: str | None = None) -> Call:
        """Invite someone by email; the answer's ``accept_url`` is shown only once."""
        return Call(body=given(email=email, role=role))

    @operation("team.members.update", TeamMember.from_api)
    def update(self, usr_id: str, *, role: str) -> Call:
        """Change a member's role."""
        return Call(path={"usr_id": usr_id}, body={"role": role})

    @operation("team.members.remove", MemberRemoved.from_api)
    def remove(self, usr_id: str) -> Call:
        """Remove a member from the organization (their account stays)."""
        return Call(path={"usr_id": usr_id})


class Invitations(Resource[M]):
    """Invitations to join: ``/v1/team/invitations`` (admin keys)."""

    @list_operation("team.invitations.list", Invitation.from_api)
    def list(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Call:
        return Call(query={"status": status, "limit": limit, "cursor": cursor})

    @operation("team.invitations.cancel", InvitationCancelled.from_api)
    def cancel(self, invitation_id: str) -> Call:
        return Call(path={"invitation_id": invitation_id})


class Team(Resource[M]):
    """``/v1/team``: ``members`` and ``invitations``."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.members: Members[M] = Members(transport)
        self.invitations: Invitations[M] = Invitations(transport)


class ApiKeys(Resource[M]):
    """The organization's API keys: ``/v1/api-keys`` (admin keys)."""

    @list_operation("api_keys.list", ApiKey.from_api)
    def list(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Call:
        return Call(query={"status": status, "limit": limit, "cursor": cursor})

    @operation("api_keys.create", ApiKeyCreated.from_api)
    def create(
        self,
        *,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | str | None = None,
        expires_in: str | timedelta | None = None,
        allowed_ips: Sequence[str] | None = None,
        rate_limit: int | None = None,
    ) -> Call:
        """Create a key; its secret is in the answer's ``key``, shown this once."""
        lifetime = duration(expires_in) if expires_in is not None else None
        return Call(
            body=given(
                name=name,
                scopes=list(scopes),
                expires_at=timestamp(expires_at) if expires_at is not None else None,
                expires_in=f"{lifetime}s" if isinstance(lifetime, int) else lifetime,
                allowed_ips=list(allowed_ips) if allowed_ips is not None else None,
                rate_limit=rate_limit,
            )
        )

    @operation("api_keys.retrieve", ApiKey.from_api)
    def retrieve(self, key_id: str) -> Call:
        return Call(path={"key_id": key_id})

    @operation("api_keys.update", ApiKey.from_api)
    def update(
        self,
        key_id: str,
        *,
        name: str | None = None,
        scopes: Sequence[str] | None = None,
        allowed_ips: Sequence[str] | Clear | None = None,
        rate_limit: int | Clear | None = None,
    ) -> Call:
        """Change what was given; ``allowed_ips=CLEAR`` allows any address and
        ``rate_limit=CLEAR`` returns the key to the organization's limit."""
        return Call(
            path={"key_id": key_id},
            body=given(
                name=name,
                scopes=list(scopes) if scopes is not None else None,
                allowed_ips=allowed_ips
                if isinstance(allowed_ips, Clear | None)
                else list(allowed_ips),
                rate_limit=rate_limit,
            ),
        )

    @operation("api_keys.revoke", ApiKey.from_api)
    def revoke(self, key_id: str) -> Call:
        """Revoke a key; final, and in effect on every server within a second."""
        return Call(path={"key_id": key_id})

    @operation("api_keys.rotate", ApiKeyRotated.from_api)
    def rotate(self, key_id: str, *, grace: str | int | timedelta = "24h") -> Call:
        """A new key now; the old one keeps working for ``grace`` (0 revokes it at once)."""
        return Call(path={"key_id": key_id}, body={"grace_period": duration(grace)})


class Deliveries(Resource[M]):
    """An endpoint's deliveries: ``/v1/webhooks/{webhook_id}/deliveries``."""

    @list_operation("webhooks.deliveries.list", WebhookDelivery.from_api)
    def list(self, webhook_id: str, *, limit: int | None = None, cursor: str | None = None) -> Call:
        return Call(path={"webhook_id": webhook_id}, query={"limit": limit, "cursor": cursor})

    @operation("webhooks.deliveries.retry", WebhookDelivery.from_api)
    def retry(self, webhook_id: str, delivery_id: str) -> Call:
        """Send a delivery again now, with the same ``webhook-id``."""
        return Call(path={"webhook_id": webhook_id, "delivery_id": delivery_id})


class Webhooks(Resource[M]):
    """Webhook endpoints: ``/v1/webhooks`` (admin keys), with ``deliveries`` below each."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.deliveries: Deliveries[M] = Deliveries(transport)

    @list_operation("webhooks.list", WebhookEndpoint.from_api)
    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Call:
        return Call(query={"limit": limit, "cursor": cursor})

    @operation("webhooks.create", WebhookEndpointCreated.from_api)
    def create(
        self,
        *,
        url: str,
        events: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Call:
        """Add an endpoint; its signing secret is in the answer's ``secret``, shown this once."""
        event_list = list(events) if events is not None else None
        return Call(
            body=given(url=url, events=event_list, description=description, enabled=enabled)
        )

    @operation("webhooks.retrieve", WebhookEndpoint.from_api)
    def retrieve(self, webhook_id: str) -> Call:
        return Call(path={"webhook_id": webhook_id})

    @operation("webhooks.update", WebhookEndpoint.from_api)
    def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Call:
        event_list = list(events) if events is not None else None
        return Call(
            path={"webhook_id": webhook_id},
            body=given(url=url, events=event_list, description=description, enabled=enabled),
        )

    @operation("webhooks.delete", Deleted.from_api)
    def delete(self, webhook_id: str) -> Call:
        return Call(path={"webhook_id": webhook_id})

    @operation("webhooks.rotate_secret", WebhookEndpointCreated.from_api)
    def rotate_secret(self, webhook_id: str) -> Call:
        """A new secret; for 24 hours deliveries are signed with both."""
        return Call(path={"webhook_id": webhook_id})

    @operation("webhooks.test", WebhookDelivery.from_api)
    def test(self, webhook_id: str) -> Call:
        """Send one ``webhook.test`` event to this endpoint only."""
        return Call(path={"webhook_id": webhook_id})


class Logs(Resource[M]):
    """The organization's request log: ``/v1/logs`` (admin keys)."""

    @list_operation("logs.list", RequestLog.from_api)
    def list(
        self,
        *,
        key_id: str | None = None,
        status: int | str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        route: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Call:
        """Requests newest first; ``status`` is exact (``429``) or a class (``"4xx"``)."""
        return Call(
            query={
                "key_id": key_id,
                "status": status,
                "since": since,
                "until": until,
                "route": route,
                "limit": limit,
                "cursor": cursor,
            }
        )

    @operation("logs.usage", Usage.from_api)
    def usage(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        key_id: str | None = None,
    ) -> Call:
        """Requests per hour, per key and status class."""
        return Call(query={"since": since, "until": until, "key_id": key_id})


class AuditLog(Resource[M]):
    """Who changed keys, members and plans: ``/v1/audit-log`` (admin keys)."""

    @list_operation("audit_log.list", AuditEvent.from_api)
    def list(
        self,
        *,
        action: str | None = None,
        actor_id: str | None = None,
        target_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Call:
        return Call(
            query={
                "action": action,
                "actor_id": actor_id,
                "target_id": target_id,
                "since": since,
                "until": until,
                "limit": limit,
                "cursor": cursor,
            }
        )


class Root(Resource[M]):
    """What both clients offer: ``me()``, ``rate_limit()`` and every resource."""

    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.bots: Bots[M] = Bots(transport)
        self.conversations: Conversations[M] = Conversations(transport)
        self.analytics: AnalyticsResource[M] = AnalyticsResource(transport)
        self.team: Team[M] = Team(transport)
        self.api_keys: ApiKeys[M] = ApiKeys(transport)
        self.webhooks: Webhooks[M] = Webhooks(transport)
        self.logs: Logs[M] = Logs(transport)
        self.audit_log: AuditLog[M] = AuditLog(transport)

    @operation("me", Me.from_api)
    def me(self) -> Call:
        """Test your connection: the key, its organization, plan and rate limit."""
        return Call()

    @operation("rate_limit", RateLimitResponse.from_api)
    def rate_limit(self) -> Call:
        """The organization's rate limit and usage (this call is not counted)."""
        return Call()
