"""The bot page's "Website widget" card: publishable keys with their embed snippet, and how
the widget looks (colour, button text) and whether it must identify visitors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots import service as bots
from botyard.bots.models import Bot
from botyard.bots.schemas import SettingsUpdate
from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.dashboard.deps import CurrentWriter, not_found
from botyard.dashboard.pages.bots import bot_of, bot_page, validated, validation_message
from botyard.dashboard.web import DashboardRoute, redirect
from botyard.widget import service as widget
from botyard.widget.models import PublishableKey
from botyard.widget.schemas import DEFAULT_KEY_NAME

router = APIRouter(route_class=DashboardRoute)


def origins_of(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


async def _key_of(session: AsyncSession, bot: Bot, key_id: str) -> PublishableKey:
    try:
        return await widget.get_key(session, bot, key_id)
    except APIError:
        raise not_found("publishable key") from None


@router.post("/bots/{bot_id}/widget/keys")
async def create_widget_key(
    request: Request,
    session: DBSession,
    context: CurrentWriter,
    bot_id: str,
    name: Annotated[str, Form()] = DEFAULT_KEY_NAME,
    allowed_origins: Annotated[str, Form()] = "",
) -> Response:
    bot = await bot_of(session, context, bot_id)
    try:
        await widget.create_key(
            session,
            bot,
            name=name.strip() or DEFAULT_KEY_NAME,
            allowed_origins=origins_of(allowed_origins),
            actor=context.actor,
        )
    except APIError as exc:
        return await bot_page(
            request,
            session,
            context,
            bot,
            widget_error=exc.message,
            widget_form={"name": name, "allowed_origins": allowed_origins},
            status_code=400,
        )
    return redirect(f"/dashboard/bots/{bot.id}?done=widget-key#widget")


@router.post("/bots/{bot_id}/widget/keys/{key_id}/rotate")
async def rotate_widget_key(
    session: DBSession, context: CurrentWriter, bot_id: str, key_id: str
) -> Response:
    bot = await bot_of(session, context, bot_id)
    key = await _key_of(session, bot, key_id)
    if key.revoked_at is None:
        await widget.rotate(session, key, context.actor)
    return redirect(f"/dashboard/bots/{bot.id}?done=widget-rotated#widget")


@router.post("/bots/{bot_id}/widget/keys/{key_id}/revoke")
async def revoke_widget_key(
    session: DBSession, context: CurrentWriter, bot_id: str, key_id: str
) -> Response:
    bot = await bot_of(session, context, bot_id)
    await widget.revoke(session, await _key_of(session, bot, key_id), context.actor)
    return redirect(f"/dashboard/bots/{bot.id}?done=widget-revoked#widget")


@router.post("/bots/{bot_id}/widget/settings")
async def save_widget_settings(
    request: Request,
    session: DBSession,
    context: CurrentWriter,
    bot_id: str,
    widget_color: Annotated[str, Form()] = "",
    widget_launcher_text: Annotated[str, Form()] = "",
    identity_verification: Annotated[str, Form()] = "",
) -> Response:
    bot = await bot_of(session, context, bot_id)
    form = {
        "widget_color": widget_color.strip(),
        "widget_launcher_text": widget_launcher_text,
        "identity_verification": identity_verification == "on",
    }
    try:
        changes = validated(SettingsUpdate, form)
    except ValidationError as exc:
        return await bot_page(
            request,
            session,
            context,
            bot,
            widget_error=validation_message(exc),
            status_code=400,
        )
    await bots.update_bot(session, bot, changes)
    return redirect(f"/dashboard/bots/{bot.id}?done=widget-saved#widget")
