"""Every operation of the API the SDK covers: its name on the client, HTTP method and path.

This table is the one place that maps SDK methods to the API. The ``@operation`` decorators
of :mod:`botyard_sdk.resources` look their route up here by name, and the SDK's drift test
checks it against the server's OpenAPI document both ways. To cover a new endpoint, add a row
here and a decorated method on the resource named by the row's first part (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """An OpenAPI path template such as ``/v1/bots/{bot_id}``."""


ROUTES: dict[str, Route] = {
    "me": Route("GET", "/v1/me"),
    "rate_limit": Route("GET", "/v1/rate_limit"),
    "bots.list": Route("GET", "/v1/bots"),
    "bots.create": Route("POST", "/v1/bots"),
    "bots.retrieve": Route("GET", "/v1/bots/{bot_id}"),
    "bots.update": Route("PATCH", "/v1/bots/{bot_id}"),
    "bots.delete": Route("DELETE", "/v1/bots/{bot_id}"),
    "bots.settings.retrieve": Route("GET", "/v1/bots/{bot_id}/settings"),
    "bots.settings.update": Route("PATCH", "/v1/bots/{bot_id}/settings"),
    "bots.knowledge.list": Route("GET", "/v1/bots/{bot_id}/knowledge"),
    "bots.knowledge.create": Route("POST", "/v1/bots/{bot_id}/knowledge"),
    "bots.knowledge.retrieve": Route("GET", "/v1/bots/{bot_id}/knowledge/{kb_id}"),
    "bots.knowledge.update": Route("PATCH", "/v1/bots/{bot_id}/knowledge/{kb_id}"),
    "bots.knowledge.delete": Route("DELETE", "/v1/bots/{bot_id}/knowledge/{kb_id}"),
    "bots.publishable_keys.list": Route("GET", "/v1/bots/{bot_id}/publishable-keys"),
    "bots.publishable_keys.create": Route("POST", "/v1/bots/{bot_id}/publishable-keys"),
    "bots.publishable_keys.revoke": Route("DELETE", "/v1/bots/{bot_id}/publishable-keys/{key_id}"),
    "bots.publishable_keys.rotate": Route(
        "POST", "/v1/bots/{bot_id}/publishable-keys/{key_id}/rotate"
    ),
    "bots.identity_secret.retrieve": Route("GET", "/v1/bots/{bot_id}/identity-secret"),
    "bots.identity_secret.rotate": Route("POST", "/v1/bots/{bot_id}/identity-secret/rotate"),
    "conversations.create": Route("POST", "/v1/bots/{bot_id}/conversations"),
    "conversations.list": Route("GET", "/v1/conversations"),
    "conversations.retrieve": Route("GET", "/v1/conversations/{conversation_id}"),
    "conversations.close": Route("PATCH", "/v1/conversations/{conversation_id}"),
    "conversations.send": Route("POST", "/v1/conversations/{conversation_id}/messages"),
    "conversations.messages.list": Route("GET", "/v1/conversations/{conversation_id}/messages"),
    "analytics.retrieve": Route("GET", "/v1/analytics"),
    "team.members.list": Route("GET", "/v1/team/members"),
    "team.members.invite": Route("POST", "/v1/team/members"),
    "team.members.update": Route("PATCH", "/v1/team/members/{usr_id}"),
    "team.members.remove": Route("DELETE", "/v1/team/members/{usr_id}"),
    "team.invitations.list": Route("GET", "/v1/team/invitations"),
    "team.invitations.cancel": Route("DELETE", "/v1/team/invitations/{invitation_id}"),
    "api_keys.list": Route("GET", "/v1/api-keys"),
    "api_keys.create": Route("POST", "/v1/api-keys"),
    "api_keys.retrieve": Route("GET", "/v1/api-keys/{key_id}"),
    "api_keys.update": Route("PATCH", "/v1/api-keys/{key_id}"),
    "api_keys.revoke": Route("DELETE", "/v1/api-keys/{key_id}"),
    "api_keys.rotate": Route("POST", "/v1/api-keys/{key_id}/rotate"),
    "webhooks.list": Route("GET", "/v1/webhooks"),
    "webhooks.create": Route("POST", "/v1/webhooks"),
    "webhooks.retrieve": Route("GET", "/v1/webhooks/{webhook_id}"),
    "webhooks.update": Route("PATCH", "/v1/webhooks/{webhook_id}"),
    "webhooks.delete": Route("DELETE", "/v1/webhooks/{webhook_id}"),
    "webhooks.rotate_secret": Route("POST", "/v1/webhooks/{webhook_id}/rotate-secret"),
    "webhooks.test": Route("POST", "/v1/webhooks/{webhook_id}/test"),
    "webhooks.deliveries.list": Route("GET", "/v1/webhooks/{webhook_id}/deliveries"),
    "webhooks.deliveries.retry": Route(
        "POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"
    ),
    "logs.list": Route("GET", "/v1/logs"),
    "logs.usage": Route("GET", "/v1/logs/usage"),
    "audit_log.list": Route("GET", "/v1/audit-log"),
}
