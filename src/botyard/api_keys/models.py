from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from botyard.core import clock
from botyard.core.database import Base, JSONType, UTCDateTime
from botyard.core.ids import new_id


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


SCOPE_IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.READ, Scope.WRITE}),
    Scope.ADMIN: frozenset({Scope.READ, Scope.WRITE, Scope.ADMIN}),
}


def effective_scopes(granted: list[str] | frozenset[str]) -> frozenset[str]:
    """``admin`` implies ``write``, which implies ``read``."""
    result: set[str] = set()
    for scope in granted:
        result |= SCOPE_IMPLIES[Scope(scope)]
    return frozenset(result)


class ApiKey(Base):
    """A key's metadata. The key itself is never stored: only its SHA-256 and a display hint."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    allowed_ips: Mapped[list[str] | None] = mapped_column(JSONType, default=None)
    rate_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str | None] = mapped_column(String(40), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    rotated_to: Mapped[str | None] = mapped_column(String(40), default=None)
    rotated_from: Mapped[str | None] = mapped_column(String(40), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    exposed_in_url_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    exposed_in_browser_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, doc="Last time a browser (or a widget route) was sent this key"
    )
    revoked_use_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, doc="Last time someone presented this key after revocation"
    )
    leaked_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=None, doc="When a leak report revoked this key"
    )


class ApiKeyAddress(Base):
    """Client addresses a key has been used from, for the ``new_ip`` warning."""

    __tablename__ = "api_key_addresses"
    __table_args__ = (UniqueConstraint("key_id", "ip"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    ip: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
