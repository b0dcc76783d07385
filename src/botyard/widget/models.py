from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from botyard.core import clock
from botyard.core.database import Base, JSONType, UTCDateTime
from botyard.core.ids import new_id


class PublishableKey(Base):
    """A key a website may show to every visitor: it reaches one bot's widget routes only.

    Unlike a secret key it is stored as it is: it is printed in the embed snippet at any time,
    and what guards it is its list of allowed origins."""

    __tablename__ = "publishable_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("pk"))
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    bot_id: Mapped[str] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(42), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    allowed_origins: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(40), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    rotated_to: Mapped[str | None] = mapped_column(String(40), default=None)
    rotated_from: Mapped[str | None] = mapped_column(String(40), default=None)


class WidgetConversation(Base):
    """Which visitor owns a conversation started through the widget: the SHA-256 of the
    ``visitor_token`` handed out when it started (the token itself is never stored)."""

    __tablename__ = "widget_conversations"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    bot_id: Mapped[str] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), index=True)
    publishable_key_id: Mapped[str] = mapped_column(String(40))
    visitor_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
