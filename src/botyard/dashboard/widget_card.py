"""What the bot page's "Website widget" card shows: live publishable keys with the embed
snippet exactly as a site pastes it, and the revoked ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots.models import Bot
from botyard.widget import service as widget


def snippet(public_url: str, key: str) -> str:
    """The contract's embed snippet for this server."""
    return f'<script src="{public_url.rstrip("/")}/widget.js" data-key="{key}" async></script>'


async def card_values(public_url: str, session: AsyncSession, bot: Bot) -> dict[str, Any]:
    keys = await widget.list_keys(session, bot)
    return {
        "widget_keys": [
            {"key": k, "snippet": snippet(public_url, k.key)} for k in keys if k.revoked_at is None
        ],
        "widget_revoked": [k for k in keys if k.revoked_at is not None],
    }
