"""Bots: the list, creating one, its profile and reply settings, its knowledge, and "try it".

Form input is validated with the API's own request schemas, so the dashboard accepts exactly
what the API accepts. "Try it" runs a real conversation through the conversation service and
shows each reply with its source and score.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots import service as bots
from botyard.bots.models import Bot
from botyard.bots.schemas import (
    MESSAGE_TEXT_MAX,
    BotCreate,
    BotUpdate,
    KnowledgeCreate,
    KnowledgeUpdate,
    SettingsUpdate,
)
from botyard.conversations import service as conversations
from botyard.conversations.models import Conversation
from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard import widget_card
from botyard.dashboard.deps import CurrentMember, CurrentWriter, DashboardContext, not_found
from botyard.dashboard.web import DashboardRoute, redirect, render

router = APIRouter(route_class=DashboardRoute)

LIST_SIZE = 100
KNOWLEDGE_SIZE = 100
TRANSCRIPT_SIZE = 100
NOTICES = {
    "created": "Bot created. Add knowledge below, then try it.",
    "saved": "Settings saved.",
    "added": "Knowledge entry added.",
    "updated": "Knowledge entry saved.",
    "deleted": "Knowledge entry deleted.",
    "widget-key": "Publishable key created: paste the snippet into your site.",
    "widget-rotated": "Publishable key rotated: update the snippet on your site now.",
    "widget-revoked": "Publishable key revoked: widgets using it stopped.",
    "widget-saved": "Widget settings saved.",
}

Fields = dict[str, Any]


def validation_message(error: ValidationError) -> str:
    """The first problem in words a form user understands."""
    first = error.errors()[0]
    field = str(first["loc"][-1]).replace("_", " ") if first.get("loc") else "form"
    return f"{field.capitalize()}: {first['msg']}."


def validated(model: type[BaseModel], values: Fields) -> Fields:
    """Values checked by an API schema; only the fields the form set."""
    return model.model_validate(values).model_dump(exclude_unset=True)


def parse_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def test_user_id(context: DashboardContext) -> str:
    """Conversations started from "try it" are marked, so the team can tell them apart."""
    return f"dashboard:{context.user_email}"


async def bot_of(session: AsyncSession, context: DashboardContext, bot_id: str) -> Bot:
    try:
        return await bots.get_bot(session, context.organization_id, bot_id)
    except APIError:
        raise not_found("bot") from None


async def bots_page(
    request: Request,
    session: AsyncSession,
    context: DashboardContext,
    *,
    form: Fields | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    rows, _, _ = await bots.list_bots(
        session, context.organization_id, limit=LIST_SIZE, cursor=None
    )
    return render(
        request,
        "dashboard/bots.html",
        context,
        status_code=status_code,
        active="bots",
        bots=rows,
        form=form or {"name": "", "description": ""},
        error=error,
    )


async def bot_page(
    request: Request,
    session: AsyncSession,
    context: DashboardContext,
    bot: Bot,
    *,
    notice: str | None = None,
    settings_error: str | None = None,
    settings_form: Fields | None = None,
    knowledge_error: str | None = None,
    knowledge_form: Fields | None = None,
    chat_error: str | None = None,
    conversation: Conversation | None = None,
    widget_error: str | None = None,
    widget_form: Fields | None = None,
    status_code: int = 200,
) -> Response:
    entries, more_entries, _ = await bots.list_knowledge(
        session, bot, limit=KNOWLEDGE_SIZE, cursor=None
    )
    transcript: list[Any] = []
    if conversation is not None:
        transcript, _, _ = await conversations.list_messages(
            session, conversation, limit=TRANSCRIPT_SIZE, cursor=None
        )
    questions = {entry.id: entry.question for entry in entries}
    return render(
        request,
        "dashboard/bot.html",
        context,
        status_code=status_code,
        active="bots",
        bot=bot,
        entries=entries,
        more_entries=more_entries,
        questions=questions,
        notice=notice,
        settings_error=settings_error,
        settings_form=settings_form or settings_values(bot),
        knowledge_error=knowledge_error,
        knowledge_form=knowledge_form or {"question": "", "answer": "", "tags": ""},
        chat_error=chat_error,
        conversation=conversation,
        transcript=transcript,
        widget_error=widget_error,
        widget_form=widget_form or {"name": "", "allowed_origins": ""},
        **await widget_card.card_values(request.app.state.settings.public_url, session, bot),
    )


def settings_values(bot: Bot) -> Fields:
    return {
        "name": bot.name,
        "description": bot.description,
        "status": bot.status,
        "welcome_message": bot.welcome_message,
        "fallback_message": bot.fallback_message,
        "language": bot.language,
        "answer_threshold": f"{bot.answer_threshold:g}",
    }


@router.get("/bots")
async def list_bots(request: Request, session: DBSession, context: CurrentMember) -> Response:
    return await bots_page(request, session, context)


@router.post("/bots")
async def create_bot(
    request: Request,
    session: DBSession,
    context: CurrentWriter,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "description": description}
    try:
        fields = validated(BotCreate, form)
    except ValidationError as exc:
        return await bots_page(
            request, session, context, form=form, error=validation_message(exc), status_code=400
        )
    bot = await bots.create_bot(session, context.organization_id, fields)
    return redirect(f"/dashboard/bots/{bot.id}?done=created")


@router.get("/bots/{bot_id}")
async def show_bot(
    request: Request,
    session: DBSession,
    context: CurrentMember,
    bot_id: str,
    done: str | None = None,
    conversation: str | None = None,
) -> Response:
    bot = await bot_of(session, context, bot_id)
    chat = None
    if conversation:
        try:
            chat = await conversations.get_conversation(
                session, context.organization_id, conversation
            )
        except APIError:
            chat = None
        if chat is not None and chat.bot_id != bot.id:
            chat = None
    return await bot_page(
        request, session, context, bot, notice=NOTICES.get(done or ""), conversation=chat
    )


@router.post("/bots/{bot_id}/settings")
async def save_settings(
    request: Request,
    session: DBSession,
    context: CurrentWriter,
    bot_id: str,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    status: Annotated[str, Form()] = "active",
    welcome_message: Annotated[str, Form()] = "",
    fallback_message: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
    answer_threshold: Annotated[str, Form()] = "",
) -> Response:
    bot = await bot_of(session, context, bot_id)
    form = {
        "name": name,
        "description": description,
        "status": status,
        "welcome_message": welcome_message,
        "fallback_message": fallback_message,
        "language": language,
        "answer_threshold": answer_threshold,
    }
    try:
        profile = validated(BotUpdate, {k: form[k] for k in ("name", "description", "status")})
        reply_settings = validated(
            SettingsUpdate,
            {
                "welcome_message": welcome_message,
                "fallback_message": fallback_message,
                "language": language,
                "answer_threshold": answer_threshold.strip().replace(",", "."),
            },
        )
    except ValidationError as exc:
        return await bot_page(
            request,
            session,
            context,
            bot,
            settings_error=validation_message(exc),
            settings_form=form,
            status_code=400,
        )
    await bots.update_bot(session, bot, {**profile, **reply_settings})
    return redirect(f"/dashboard/bots/{bot.id}?done=saved")


@router.get("/bots/{bot_id}/delete")
async def confirm_delete_bot(
    request: Request, session: DBSession, context: CurrentMember, bot_id: str
) -> Response:
    bot = await bot_of(session, context, bot_id)
    return render(request, "dashboard/bot_delete.html", context, active="bots", bot=bot)


@router.post("/bots/{bot_id}/delete")
async def delete_bot(
    request: Request, session: DBSession, context: CurrentWriter, bot_id: str
) -> Response:
    bot = await bot_of(session, context, bot_id)
    await bots.delete_bot(session, bot)
    return redirect("/dashboard/bots")


@router.post("/bots/{bot_id}/knowledge")
async def add_knowledge(
    request: Request,
    session: DBSession,
    context: CurrentWriter,
    bot_id: str,
    question: Annotated[str, Form()] = "",
    answer: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
) -> Response:
    bot = await bot_of(session, context, bot_id)
    form = {"question": question, "answer": answer, "tags": tags}
    try:
        fields = validated(
            KnowledgeCreate, {"question": question, "answer": answer, "tags": parse_tags(tags)}
        )
    except ValidationError as exc:
        return await bot_page(
            request,
            session,
            context,
            bot,
            knowledge_error=validation_message(exc),
            knowledge_form=form,
            status_code=400,
        )
    await bots.create_entry(
        session,
        bot,
        question=fields["question"],
        answer=fields["answer"],
        tags=fields.get("tags", []),
    )
    return redirect(f"/dashboard/bots/{bot.id}?done=added#knowledge")


@router.get("/bots/{bot_id}/knowledge/{entry_id}")
async def edit_knowledge(
    request: Request, session: DBSession, context: CurrentMember, bot_id: str, entry_id: str
) -> Response:
    bot = await bot_of(session, context, bot_id)
    entry = await entry_of(session, bot, entry_id)
    form = {"question": entry.question, "answer": entry.answer, "tags": ", ".join(entry.tags)}
    return render(
        request,
        "dashboard/knowledge_edit.html",
        context,
        active="bots",
        bot=bot,
        entry=entry,
        form=form,
        error=None,
    )


async def entry_of(session: AsyncSession, bot: Bot, entry_id: str) -> Any:
    try:
        return await bots.get_entry(session, bot, entry_id)
    except APIError:
        raise not_found("knowledge entry") from None


@router.post("/bots/{bot_id}/knowledge/{entry_id}")
async def save_knowledge(
    request: Request,
    session: DBSession,
    context: CurrentWriter,
    bot_id: str,
    entry_id: str,
    question: Annotated[str, Form()] = "",
    answer: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
) -> Response:
    bot = await bot_of(session, context, bot_id)
    entry = await entry_of(session, bot, entry_id)
    form = {"question": question, "answer": answer, "tags": tags}
    try:
        fields = validated(
            KnowledgeUpdate, {"question": question, "answer": answer, "tags": parse_tags(tags)}
        )
    except ValidationError as exc:
        return render(
            request,
            "dashboard/knowledge_edit.html",
            context,
            status_code=400,
            active="bots",
            bot=bot,
            entry=entry,
            form=form,
            error=validation_message(exc),
        )
    await bots.update_entry(session, entry, fields)
    return redirect(f"/dashboard/bots/{bot.id}?done=updated#knowledge")


@router.post("/bots/{bot_id}/knowledge/{entry_id}/delete")
async def delete_knowledge(
    request: Request, session: DBSession, context: CurrentWriter, bot_id: str, entry_id: str
) -> Response:
    bot = await bot_of(session, context, bot_id)
    entry = await entry_of(session, bot, entry_id)
    await bots.delete_entry(session, entry)
    return redirect(f"/dashboard/bots/{bot.id}?done=deleted#knowledge")


@router.post("/bots/{bot_id}/try")
async def try_bot(
    request: Request,
    session: DBSession,
    context: CurrentWriter,
    bot_id: str,
    message: Annotated[str, Form()] = "",
    conversation_id: Annotated[str, Form()] = "",
) -> Response:
    """Send a message as a test user; a new conversation starts when there is none yet."""
    bot = await bot_of(session, context, bot_id)
    chat: Conversation | None = None
    if conversation_id:
        try:
            chat = await conversations.get_conversation(
                session, context.organization_id, conversation_id
            )
        except APIError:
            chat = None
        if chat is not None and (chat.bot_id != bot.id or chat.status != "open"):
            chat = None
    text = message.strip()
    if not text or len(text) > MESSAGE_TEXT_MAX:
        problem = (
            "Type a message to send."
            if not text
            else (f"A message is at most {MESSAGE_TEXT_MAX} characters.")
        )
        return await bot_page(
            request, session, context, bot, chat_error=problem, conversation=chat, status_code=400
        )
    try:
        if chat is None:
            chat, _ = await conversations.start_conversation(
                session, bot, external_user_id=test_user_id(context)
            )
        await conversations.post_message(session, chat, text)
    except APIError as exc:
        await session.rollback()
        bot = await bot_of(session, context, bot_id)
        return await bot_page(
            request, session, context, bot, chat_error=exc.message, status_code=exc.status_code
        )
    return redirect(f"/dashboard/bots/{bot.id}?conversation={chat.id}#try")
