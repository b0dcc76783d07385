"""RFC 3339 UTC timestamps with a ``Z``, the only time format the API speaks."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


UTCTimestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]
