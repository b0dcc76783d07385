from datetime import datetime

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from botyard.core.database import Base, UTCDateTime


class RequestLog(Base):
    """One API request. Never the key, never a body."""

    __tablename__ = "request_logs"
    __table_args__ = (
        Index("ix_request_logs_org_created", "organization_id", "created_at"),
        Index("ix_request_logs_key_created", "key_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    organization_id: Mapped[str | None] = mapped_column(String(40), default=None)
    key_id: Mapped[str | None] = mapped_column(String(40), default=None)
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(60), default=None)
    latency_ms: Mapped[float] = mapped_column(Float)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    request_id: Mapped[str] = mapped_column(String(40))
