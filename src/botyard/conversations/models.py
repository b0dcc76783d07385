from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from botyard.core import clock
from botyard.core.database import Base, UTCDateTime
from botyard.core.ids import new_id, new_time_ordered_id


class Conversation(Base):
    __tablename__ = "conversations"
    # The keyset of lists, newest first, and the organization's rows for analytics.
    __table_args__ = (
        Index("ix_conversations_org_created", "organization_id", "created_at", "id"),
        Index("ix_conversations_bot_created", "bot_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("conv"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    bot_id: Mapped[str] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"))
    external_user_id: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    message_count: Mapped[int] = mapped_column(
        Integer, default=0, doc="Its messages, kept for analytics (messages per conversation)"
    )


class Message(Base):
    __tablename__ = "messages"
    # A conversation's transcript is read oldest first: (created_at, id) is its keyset.
    __table_args__ = (
        Index("ix_messages_org_created", "organization_id", "created_at"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
        Index("ix_messages_bot_created", "bot_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(
        String(40), primary_key=True, default=lambda: new_time_ordered_id("msg")
    )
    # organization_id and bot_id: the conversation's, copied for the indexes and deleted
    # with it (migration 0010 says why they are no foreign keys of their own).
    organization_id: Mapped[str] = mapped_column(String(40))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    bot_id: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    answer_source: Mapped[str | None] = mapped_column(String(20), default=None)
    knowledge_id: Mapped[str | None] = mapped_column(String(40), default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
