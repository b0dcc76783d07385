from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Mapper, mapped_column, object_session

from botyard.conversations.ranking import DEFAULT_ANSWER_THRESHOLD
from botyard.core import clock
from botyard.core.database import Base, JSONType, UTCDateTime
from botyard.core.ids import new_id
from botyard.core.rows import table_of

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
    knowledge_version: Mapped[int] = mapped_column(
        Integer, default=0, doc="Moves with every write of the bot's knowledge entries"
    )


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


_bots = table_of(Bot)
KNOWLEDGE_CHANGED = (
    update(_bots)
    .where(_bots.c.id == bindparam("bot_id"))
    .values(knowledge_version=_bots.c.knowledge_version + 1)
)
"""Moves a bot's ``knowledge_version``: the version its cached ranking index is keyed by
(bots/knowledge_index.py), read with the bot, so a message needs no aggregate over the
entries to know whether the index is current.

Every write of an entry runs it in the same transaction, before the entry's own statement
(the bot's row is locked first, as deleting the bot does): the ORM's through the mapper
events below, whoever makes them, and the service's Core insert explicitly."""


@sa_event.listens_for(KnowledgeEntry, "before_insert")
@sa_event.listens_for(KnowledgeEntry, "before_delete")
def _entry_written(_mapper: Mapper[Any], connection: Connection, entry: KnowledgeEntry) -> None:
    connection.execute(KNOWLEDGE_CHANGED, {"bot_id": entry.bot_id})


@sa_event.listens_for(KnowledgeEntry, "before_update")
def _entry_updated(_mapper: Mapper[Any], connection: Connection, entry: KnowledgeEntry) -> None:
    session = object_session(entry)
    if session is None or session.is_modified(entry, include_collections=False):
        connection.execute(KNOWLEDGE_CHANGED, {"bot_id": entry.bot_id})
