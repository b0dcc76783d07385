from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from botyard.conversations.ranking import DEFAULT_ANSWER_THRESHOLD
from botyard.core import clock
from botyard.core.database import Base, JSONType, UTCDateTime
from botyard.core.ids import new_id

DEFAULT_WELCOME = "Hi! How can I help you today?"
DEFAULT_FALLBACK = "Sorry, I don't know the answer to that yet. A teammate will follow up."
DEFAULT_WIDGET_COLOR = "#2563eb"
DEFAULT_LAUNCHER_TEXT = "Chat with us"


class Bot(Base):
    __tablename__ = "bots"
    # Lists read an organization's bots newest first: (created_at, id) is their keyset.
    __table_args__ = (Index("ix_bots_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("bot"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="active")
    welcome_message: Mapped[str] = mapped_column(Text, default=DEFAULT_WELCOME)
    fallback_message: Mapped[str] = mapped_column(Text, default=DEFAULT_FALLBACK)
    language: Mapped[str] = mapped_column(String(10), default="en")
    answer_threshold: Mapped[float] = mapped_column(Float, default=DEFAULT_ANSWER_THRESHOLD)
    widget_color: Mapped[str] = mapped_column(String(7), default=DEFAULT_WIDGET_COLOR)
    widget_launcher_text: Mapped[str] = mapped_column(String(40), default=DEFAULT_LAUNCHER_TEXT)
    identity_verification: Mapped[bool] = mapped_column(Boolean, default=False)
    identity_secret_sealed: Mapped[str | None] = mapped_column(
        Text, default=None, doc="The website widget's identity secret, sealed by core.secretbox"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class KnowledgeEntry(Base):
    __tablename__ = "knowledge_entries"
    __table_args__ = (Index("ix_knowledge_entries_bot_created", "bot_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("kb"))
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    bot_id: Mapped[str] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
