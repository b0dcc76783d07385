from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from botyard.core.database import Base, UTCDateTime


class MessageHour(Base):
    """The message figures of one bot in one UTC hour, kept up to date as messages are written.

    analytics/service.py maintains the rows (``count_messages``) and says how. The key leads
    with the organization, so that a bot's hours are found by the key alone even where the
    organization is a condition too; the index serves the organization's hours of all bots.
    """

    __tablename__ = "analytics_message_hours"
    __table_args__ = (Index("ix_analytics_message_hours_org_hour", "organization_id", "hour"),)

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    bot_id: Mapped[str] = mapped_column(ForeignKey("bots.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    user_messages: Mapped[int] = mapped_column(Integer)
    bot_messages: Mapped[int] = mapped_column(Integer)
    knowledge_replies: Mapped[int] = mapped_column(Integer)
    fallback_replies: Mapped[int] = mapped_column(Integer)
