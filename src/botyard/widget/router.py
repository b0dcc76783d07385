"""Publishable keys (managed with a secret key), the widget's visitor API, and /widget.js."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response

from botyard.api_keys.deps import AdminKey, WriteKey
from botyard.bots import service as bots
from botyard.conversations import service as conversations
from botyard.conversations.schemas import (
    MESSAGE_JSON,
    ConversationOut,
    Exchange,
    MessageCreate,
    MessageOut,
)
from botyard.core.database import DBSession
from botyard.core.pagination import ListResponse, list_json
from botyard.core.params import Cursor, Limit
from botyard.core.secretbox import AppSecretBox
from botyard.widget import service
from botyard.widget.deps import Widget, WidgetPost
from botyard.widget.schemas import (
    IdentitySecretOut,
    PublishableKeyCreate,
    PublishableKeyOut,
    WidgetColors,
    WidgetConfig,
    WidgetConversationCreate,
    WidgetConversationStarted,
)

keys_router = APIRouter(prefix="/v1/bots", tags=["website widget"])
widget_router = APIRouter(prefix="/v1/widget", tags=["website widget"])
script_router = APIRouter(prefix="/widget.js", include_in_schema=False)

WIDGET_SCRIPT = Path(__file__).resolve().parent.parent / "static" / "widget.js"

VisitorToken = Annotated[
    str | None, Header(alias="X-Visitor-Token", description="From starting the conversation")
]
WIDGET_MESSAGES_LIMIT = 100


# Publishable keys -------------------------------------------------------------------------


@keys_router.get("/{bot_id}/publishable-keys", summary="List a bot's publishable keys")
async def list_publishable_keys(
    principal: WriteKey, session: DBSession, bot_id: str
) -> ListResponse[PublishableKeyOut]:
    bot = await bots.get_bot(session, principal.organization_id, bot_id)
    keys = await service.list_keys(session, bot)
    return ListResponse[PublishableKeyOut](
        data=[PublishableKeyOut.of(k) for k in keys], has_more=False, next_cursor=None
    )


@keys_router.post(
    "/{bot_id}/publishable-keys",
    status_code=201,
    summary="Create a publishable key for the bot's website widget",
    description="A publishable key (`byp_…`) is not a secret: it goes in the embed snippet. "
    "It reaches only this bot's widget routes, from the origins listed.",
)
async def create_publishable_key(
    principal: WriteKey, session: DBSession, bot_id: str, body: PublishableKeyCreate
) -> PublishableKeyOut:
    bot = await bots.get_bot(session, principal.organization_id, bot_id)
    key = await service.create_key(
        session,
        bot,
        name=body.name,
        allowed_origins=body.allowed_origins,
        actor=principal.actor,
    )
    return PublishableKeyOut.of(key)


@keys_router.delete(
    "/{bot_id}/publishable-keys/{key_id}",
    summary="Revoke a publishable key (the widget using it stops at once)",
)
async def revoke_publishable_key(
    principal: WriteKey, session: DBSession, bot_id: str, key_id: str
) -> PublishableKeyOut:
    bot = await bots.get_bot(session, principal.organization_id, bot_id)
    key = await service.get_key(session, bot, key_id)
    return PublishableKeyOut.of(await service.revoke(session, key, principal.actor))


@keys_router.post(
    "/{bot_id}/publishable-keys/{key_id}/rotate",
    status_code=201,
    summary="Replace a publishable key with a new one (the old one stops at once)",
)
async def rotate_publishable_key(
    principal: WriteKey, session: DBSession, bot_id: str, key_id: str
) -> PublishableKeyOut:
    bot = await bots.get_bot(session, principal.organization_id, bot_id)
    key = await service.get_key(session, bot, key_id)
    return PublishableKeyOut.of(await service.rotate(session, key, principal.actor))


@keys_router.get(
    "/{bot_id}/identity-secret",
    summary="Get the bot's identity secret, for verifying widget visitors on your server",
)
async def get_identity_secret(
    principal: AdminKey, session: DBSession, box: AppSecretBox, bot_id: str
) -> IdentitySecretOut:
    bot = await bots.get_bot(session, principal.organization_id, bot_id)
    secret = await service.identity_secret(session, bot, box)
    return IdentitySecretOut(
        bot_id=bot.id, identity_secret=secret, identity_verification=bot.identity_verification
    )


@keys_router.post(
    "/{bot_id}/identity-secret/rotate",
    summary="Replace the bot's identity secret (hashes made with the old one stop matching)",
)
async def rotate_identity_secret(
    principal: AdminKey, session: DBSession, box: AppSecretBox, bot_id: str
) -> IdentitySecretOut:
    bot = await bots.get_bot(session, principal.organization_id, bot_id)
    secret = await service.rotate_identity_secret(session, bot, box)
    return IdentitySecretOut(
        bot_id=bot.id, identity_secret=secret, identity_verification=bot.identity_verification
    )


# The widget's visitor API -----------------------------------------------------------------


@widget_router.get("/config", summary="The bot's widget settings (publishable key)")
async def widget_config(caller: Widget, session: DBSession) -> WidgetConfig:
    bot = await bots.get_bot(session, caller.organization_id, caller.bot_id)
    return WidgetConfig(
        bot_id=bot.id,
        bot_name=bot.name,
        welcome_message=bot.welcome_message,
        launcher_text=bot.widget_launcher_text,
        colors=WidgetColors(
            primary=bot.widget_color, on_primary=service.text_color_on(bot.widget_color)
        ),
        identity_required=bot.identity_verification,
        available=bot.status == "active",
    )


@widget_router.post(
    "/conversations",
    status_code=201,
    summary="Start a visitor's conversation (publishable key)",
)
async def start_widget_conversation(
    caller: WidgetPost,
    session: DBSession,
    box: AppSecretBox,
    body: WidgetConversationCreate | None = None,
) -> WidgetConversationStarted:
    bot = await bots.get_bot(session, caller.organization_id, caller.bot_id)
    body = body or WidgetConversationCreate()
    user_id = service.verify_identity(bot, box, body.external_user_id, body.user_hash)
    conversation, welcome, token = await service.start_conversation(
        session, bot, caller.key.id, external_user_id=user_id
    )
    return WidgetConversationStarted(
        conversation=ConversationOut.model_validate(conversation),
        visitor_token=token,
        messages=[MessageOut.model_validate(welcome)],
    )


@widget_router.get(
    "/conversations/{conversation_id}/messages",
    summary="The visitor's conversation, oldest first (publishable key + visitor token)",
    response_model=ListResponse[MessageOut],
)
async def list_widget_messages(
    caller: Widget,
    session: DBSession,
    conversation_id: str,
    visitor_token: VisitorToken = None,
    limit: Limit = WIDGET_MESSAGES_LIMIT,
    cursor: Cursor = None,
) -> Response:
    conversation = await service.visitor_conversation(
        session, caller.organization_id, caller.bot_id, conversation_id, visitor_token
    )
    page = await conversations.list_messages(
        session, conversation, limit=limit, cursor=cursor, columns=MESSAGE_JSON.columns
    )
    return list_json(MESSAGE_JSON, page)


@widget_router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    summary="Post the visitor's message; the bot's reply is in the response",
)
async def post_widget_message(
    caller: WidgetPost,
    session: DBSession,
    conversation_id: str,
    body: MessageCreate,
    visitor_token: VisitorToken = None,
) -> Exchange:
    conversation = await service.visitor_conversation(
        session, caller.organization_id, caller.bot_id, conversation_id, visitor_token
    )
    message, reply = await conversations.post_message(session, conversation, body.text)
    return Exchange(conversation_id=conversation.id, message=message, reply=reply)


# The script -------------------------------------------------------------------------------

SCRIPT_HEADERS = {
    "Cache-Control": "public, max-age=300",
    # Loaded by other sites' pages: no frame or resource policy of ours may block it there.
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
}


@cache
def _script() -> bytes:
    return WIDGET_SCRIPT.read_bytes()


@script_router.get("")
async def widget_script() -> Response:
    return Response(
        _script(),
        media_type="text/javascript; charset=utf-8",
        headers=SCRIPT_HEADERS,
    )
