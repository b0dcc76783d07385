"""Conversations: start one on a bot, chat (the bot replies in the response), read, close."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from botyard.api_keys.deps import ReadKey, WriteKey
from botyard.bots import service as bots
from botyard.conversations import service
from botyard.conversations.schemas import (
    CONVERSATION_JSON,
    EXCHANGE_JSON,
    MESSAGE_JSON,
    ConversationCreate,
    ConversationOut,
    ConversationStarted,
    ConversationStatus,
    ConversationUpdate,
    Exchange,
    MessageCreate,
    MessageOut,
)
from botyard.core.database import DBReader, DBSession, DBWriter
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse, list_json
from botyard.core.params import AnyIfBlank, Cursor, Limit, TimeFilter

router = APIRouter(prefix="/v1", tags=["conversations"])


@router.post(
    "/bots/{bot_id}/conversations",
    status_code=201,
    summary="Start a conversation; it opens with the bot's welcome message",
)
async def start_conversation(
    principal: WriteKey, session: DBSession, bot_id: str, body: ConversationCreate | None = None
) -> ConversationStarted:
    bot = await bots.get_bot(session, principal.organization_id, bot_id)
    conversation, welcome = await service.start_conversation(
        session, bot, external_user_id=body.external_user_id if body else None
    )
    return ConversationStarted(
        **ConversationOut.model_validate(conversation).model_dump(),
        messages=[MessageOut.model_validate(welcome)],
    )


@router.get(
    "/conversations",
    summary="List conversations, newest first",
    response_model=ListResponse[ConversationOut],
)
async def list_conversations(
    principal: ReadKey,
    reader: DBReader,
    bot_id: Annotated[str | None, Query(description="Only this bot's conversations")] = None,
    status: Annotated[
        ConversationStatus | None, Query(description="open or closed"), AnyIfBlank
    ] = None,
    since: Annotated[
        TimeFilter | None, Query(description="Started at or after this time (RFC 3339)")
    ] = None,
    until: Annotated[
        TimeFilter | None, Query(description="Started before this time (RFC 3339)")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    page = await service.list_conversations(
        reader,
        principal.organization_id,
        bot_id=bot_id,
        status=status,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
        columns=CONVERSATION_JSON.columns,
    )
    return list_json(CONVERSATION_JSON, page)


@router.get(
    "/conversations/{conversation_id}",
    summary="Get a conversation",
    response_model=ConversationOut,
)
async def get_conversation(principal: ReadKey, reader: DBReader, conversation_id: str) -> Response:
    conversation = await service.read_conversation(
        reader, principal.organization_id, conversation_id
    )
    return CONVERSATION_JSON.response(conversation)


@router.patch("/conversations/{conversation_id}", summary="Close a conversation")
async def update_conversation(
    principal: WriteKey, session: DBSession, conversation_id: str, body: ConversationUpdate
) -> ConversationOut:
    conversation = await service.get_conversation(
        session, principal.organization_id, conversation_id
    )
    await service.close_conversation(session, conversation)
    return ConversationOut.model_validate(conversation)


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="List a conversation's messages, oldest first",
    response_model=ListResponse[MessageOut],
)
async def list_messages(
    principal: ReadKey,
    reader: DBReader,
    conversation_id: str,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    page = await service.list_conversation_messages(
        reader,
        principal.organization_id,
        conversation_id,
        limit=limit,
        cursor=cursor,
        columns=MESSAGE_JSON.columns,
    )
    return list_json(MESSAGE_JSON, page)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    summary="Send the end user's message; the response carries the bot's reply",
    response_model=Exchange,
)
async def post_message(
    principal: WriteKey, writer: DBWriter, conversation_id: str, body: MessageCreate
) -> Response:
    message, reply = await service.send_message(
        writer, principal.organization_id, conversation_id, body.text
    )
    # Its parts are validated already: written once, not validated again by FastAPI.
    exchange = Exchange.model_construct(
        conversation_id=message.conversation_id, message=message, reply=reply
    )
    return EXCHANGE_JSON.response(exchange, status_code=201)
