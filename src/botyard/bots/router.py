"""Bots, their reply settings and their knowledge base (read to view, write to change)."""

from fastapi import APIRouter
from fastapi.responses import Response

from botyard.api_keys.deps import ReadKey, WriteKey
from botyard.bots import service
from botyard.bots.schemas import (
    BOT_JSON,
    KNOWLEDGE_JSON,
    SETTINGS_JSON,
    BotCreate,
    BotOut,
    BotUpdate,
    Deleted,
    KnowledgeCreate,
    KnowledgeOut,
    KnowledgeUpdate,
    SettingsOut,
    SettingsUpdate,
)
from botyard.core.database import DBReader, DBSession, DBWriter
from botyard.core.pagination import DEFAULT_LIMIT, ListResponse, list_json
from botyard.core.params import Cursor, Limit

router = APIRouter(prefix="/v1/bots", tags=["bots"])


@router.get("", summary="List bots", response_model=ListResponse[BotOut])
async def list_bots(
    principal: ReadKey, reader: DBReader, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    page = await service.list_bots(
        reader, principal.organization_id, limit=limit, cursor=cursor, columns=BOT_JSON.columns
    )
    return list_json(BOT_JSON, page)


@router.post("", status_code=201, summary="Create a bot (optionally with its reply settings)")
async def create_bot(principal: WriteKey, writer: DBWriter, body: BotCreate) -> BotOut:
    return await service.create_bot(
        writer, principal.organization_id, body.model_dump(exclude_unset=True)
    )


@router.get("/{bot_id}", summary="Get a bot", response_model=BotOut)
async def get_bot(principal: ReadKey, reader: DBReader, bot_id: str) -> Response:
    bot = await service.read_bot(reader, principal.organization_id, bot_id)
    return BOT_JSON.response(bot)


@router.patch("/{bot_id}", summary="Rename, describe, pause or resume a bot")
async def update_bot(
    principal: WriteKey, session: DBSession, bot_id: str, body: BotUpdate
) -> BotOut:
    bot = await service.get_bot(session, principal.organization_id, bot_id)
    await service.update_bot(session, bot, body.model_dump(exclude_unset=True))
    return BotOut.model_validate(bot)


@router.delete("/{bot_id}", summary="Delete a bot with its knowledge and conversations")
async def delete_bot(principal: WriteKey, session: DBSession, bot_id: str) -> Deleted:
    bot = await service.get_bot(session, principal.organization_id, bot_id)
    await service.delete_bot(session, bot)
    return Deleted(id=bot_id, object="bot")


@router.get("/{bot_id}/settings", summary="Get a bot's reply settings", response_model=SettingsOut)
async def get_settings(principal: ReadKey, reader: DBReader, bot_id: str) -> Response:
    bot = await service.read_bot(reader, principal.organization_id, bot_id)
    return SETTINGS_JSON.response(bot)


@router.patch("/{bot_id}/settings", summary="Change a bot's reply settings")
async def update_settings(
    principal: WriteKey, session: DBSession, bot_id: str, body: SettingsUpdate
) -> SettingsOut:
    bot = await service.get_bot(session, principal.organization_id, bot_id)
    await service.update_bot(session, bot, body.model_dump(exclude_unset=True))
    return SettingsOut.model_validate(bot)


@router.get(
    "/{bot_id}/knowledge",
    summary="List a bot's knowledge entries, newest first",
    response_model=ListResponse[KnowledgeOut],
)
async def list_knowledge(
    principal: ReadKey,
    reader: DBReader,
    bot_id: str,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    page = await service.list_bot_knowledge(
        reader,
        principal.organization_id,
        bot_id,
        limit=limit,
        cursor=cursor,
        columns=KNOWLEDGE_JSON.columns,
    )
    return list_json(KNOWLEDGE_JSON, page)


@router.post("/{bot_id}/knowledge", status_code=201, summary="Add a knowledge entry")
async def create_knowledge(
    principal: WriteKey, session: DBSession, bot_id: str, body: KnowledgeCreate
) -> KnowledgeOut:
    bot = await service.get_bot(session, principal.organization_id, bot_id)
    return await service.create_entry(
        session, bot, question=body.question, answer=body.answer, tags=body.tags
    )


@router.get("/{bot_id}/knowledge/{kb_id}", summary="Get a knowledge entry")
async def get_knowledge(
    principal: ReadKey, session: DBSession, bot_id: str, kb_id: str
) -> KnowledgeOut:
    bot = await service.get_bot(session, principal.organization_id, bot_id)
    return KnowledgeOut.model_validate(await service.get_entry(session, bot, kb_id))


@router.patch("/{bot_id}/knowledge/{kb_id}", summary="Change a knowledge entry")
async def update_knowledge(
    principal: WriteKey, session: DBSession, bot_id: str, kb_id: str, body: KnowledgeUpdate
) -> KnowledgeOut:
    bot = await service.get_bot(session, principal.organization_id, bot_id)
    entry = await service.get_entry(session, bot, kb_id)
    await service.update_entry(session, entry, body.model_dump(exclude_unset=True))
    return KnowledgeOut.model_validate(entry)


@router.delete("/{bot_id}/knowledge/{kb_id}", summary="Delete a knowledge entry")
async def delete_knowledge(
    principal: WriteKey, session: DBSession, bot_id: str, kb_id: str
) -> Deleted:
    bot = await service.get_bot(session, principal.organization_id, bot_id)
    entry = await service.get_entry(session, bot, kb_id)
    await service.delete_entry(session, entry)
    return Deleted(id=kb_id, object="knowledge_entry")
