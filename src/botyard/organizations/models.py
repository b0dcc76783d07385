from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from botyard.core import clock
from botyard.core.database import Base, UTCDateTime
from botyard.core.ids import new_id


class Plan(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"

    @property
    def has_api_access(self) -> bool:
        """Professional and Enterprise. Compared by identity: asked on every API request, and
        set membership would call Enum's hash, which is Python code."""
        return self is Plan.PROFESSIONAL or self is Plan.ENTERPRISE

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("org"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    plan: Mapped[str] = mapped_column(String(20), default=Plan.FREE.value)
    rate_limit: Mapped[int | None] = mapped_column(
        Integer, default=None, doc="Requests per window; None means the server default"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
