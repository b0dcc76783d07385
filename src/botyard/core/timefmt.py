"""RFC 3339 UTC timestamps with a ``Z``, the only time format the API speaks."""

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Times the API reasons about; no stored row is outside them."""

_DATE_FIRST = re.compile(r"\d{4}-\d{2}-\d{2}")


def rfc3339(value: datetime) -> str:
    """``2026-05-01T09:30:00Z``: whole seconds in UTC. Written out field by field, which
    costs half of ``isoformat(timespec=...)`` and matters at two per row of every list."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC:  # stored times come back in UTC already
        value = value.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
    )


UTCTimestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]


def with_zone(value: datetime) -> datetime:
    """A time given without an offset is read as UTC, the only zone the API speaks."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def to_utc(value: datetime) -> datetime:
    """Raises OverflowError for times whose UTC equivalent leaves the calendar (year 1 or 9999)."""
    return with_zone(value).astimezone(UTC)


def clamp_time(value: datetime) -> datetime:
    """A filter bound inside EARLIEST..LATEST, which filters exactly the same rows."""
    try:
        utc = to_utc(value)
    except OverflowError:
        return EARLIEST if value.year < LATEST.year else LATEST
    return min(max(utc, EARLIEST), LATEST)


def written_out(value: object) -> object:
    """Refuse a number where a time is expected; pydantic would read it as epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("expected an RFC 3339 time such as 2026-05-01T00:00:00Z, not a number")
    return value


def within_calendar(value: datetime) -> datetime:
    """The time in UTC, refused unless it lies in EARLIEST..LATEST.

    A time such as ``9999-12-31T23:59:59-14:00`` is valid RFC 3339 but has no UTC
    equivalent in Python's calendar: stored as given, it overflowed in the driver (500).
    """
    try:
        utc = to_utc(value)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must lie between {rfc3339(EARLIEST)} and {rfc3339(LATEST)}")
    return utc


def parse_time(value: object) -> object:
    """An RFC 3339 time (or a date, meaning its midnight) given as text, and nothing else.

    Pydantic alone would also take a number as seconds since the epoch, so ``until=0.5``
    meant 1970; a time parameter is a date and time written out, as the API writes them.
    Values that are not text (already a datetime) pass on unchanged.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not _DATE_FIRST.match(text):
        raise ValueError("expected an RFC 3339 time such as 2026-05-01T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError("expected an RFC 3339 time such as 2026-05-01T00:00:00Z") from None
    return with_zone(parsed)
