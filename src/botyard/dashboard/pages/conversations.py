"""Conversations: a filtered list, and one conversation's messages as a transcript."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from botyard.bots import service as bots
from botyard.conversations import service as conversations
from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard.deps import CurrentMember, PageError, not_found
from botyard.dashboard.web import DashboardRoute, redirect, render

router = APIRouter(route_class=DashboardRoute)

PAGE_SIZE = 25
TRANSCRIPT_SIZE = 100
STATUSES = ("open", "closed")


def parse_day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PageError(400, "Invalid filter", f"{name} must be a date like 2026-05-01.") from None


def day_start(value: date | None, *, next_day: bool = False) -> datetime | None:
    """Dates filter whole UTC days: ``until`` includes the day it names."""
    if value is None:
        return None
    start = datetime.combine(value, time(0), tzinfo=UTC)
    return start + timedelta(days=1) if next_day else start


@router.get("/conversations")
async def list_conversations(
    request: Request,
    session: DBSession,
    context: CurrentMember,
    bot_id: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
) -> Response:
    bot_list, _, _ = await bots.list_bots(session, context.organization_id, limit=100, cursor=None)
    names = {bot.id: bot.name for bot in bot_list}
    bot_id = bot_id or None
    status = status if status in STATUSES else None
    since_day, until_day = parse_day(since, "From"), parse_day(until, "To")
    try:
        rows, has_more, next_cursor = await conversations.list_conversations(
            session,
            context.organization_id,
            bot_id=bot_id,
            status=status,
            since=day_start(since_day),
            until=day_start(until_day, next_day=True),
            limit=PAGE_SIZE,
            cursor=cursor,
        )
    except APIError as exc:
        raise PageError(400, "Invalid filter", exc.message) from None
    filters = {"bot_id": bot_id, "status": status, "since": since, "until": until}
    next_url = None
    if has_more and next_cursor:
        query = {k: v for k, v in filters.items() if v} | {"cursor": next_cursor}
        next_url = "/dashboard/conversations?" + urlencode(query)
    return render(
        request,
        "dashboard/conversations.html",
        context,
        active="conversations",
        rows=rows,
        names=names,
        bots=bot_list,
        statuses=STATUSES,
        filters=filters,
        next_url=next_url,
        paged=bool(cursor),
    )


@router.get("/conversations/{conversation_id}")
async def show_conversation(
    request: Request, session: DBSession, context: CurrentMember, conversation_id: str
) -> Response:
    try:
        conversation = await conversations.get_conversation(
            session, context.organization_id, conversation_id
        )
        bot = await bots.get_bot(session, context.organization_id, conversation.bot_id)
    except APIError:
        raise not_found("conversation") from None
    messages, has_more, _ = await conversations.list_messages(
        session, conversation, limit=TRANSCRIPT_SIZE, cursor=None
    )
    entries, _, _ = await bots.list_knowledge(session, bot, limit=100, cursor=None)
    return render(
        request,
        "dashboard/conversation.html",
        context,
        active="conversations",
        conversation=conversation,
        bot=bot,
        messages=messages,
        more_messages=has_more,
        questions={e.id: e.question for e in entries},
    )


@router.post("/conversations/{conversation_id}/close")
async def close_conversation(
    request: Request, session: DBSession, context: CurrentMember, conversation_id: str
) -> Response:
    try:
        conversation = await conversations.get_conversation(
            session, context.organization_id, conversation_id
        )
    except APIError:
        raise not_found("conversation") from None
    await conversations.close_conversation(session, conversation)
    return redirect(f"/dashboard/conversations/{conversation.id}")
