"""Query parameters shared by list endpoints, each parsed so that no value can cause a 500."""

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator

from botyard.core.pagination import MAX_LIMIT
from botyard.core.timefmt import clamp_time, parse_time

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1 to 100")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]


def refuse_boolean(value: object) -> object:
    """Pydantic reads ``false`` as 0 and ``true`` as 1 for a number; a number is asked for."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


NotBoolean = BeforeValidator(refuse_boolean)
"""Put on a number field of a request body (the dashboard's text "0.4" still reads as 0.4)."""


def blank_is_none(value: object) -> object:
    """``?status=`` (as an empty form field sends it) means no filter, not an invalid one."""
    return None if value == "" else value


AnyIfBlank = BeforeValidator(blank_is_none)
"""Put on an optional filter, so that its empty value means "any"."""

Time = Annotated[datetime, BeforeValidator(parse_time)]
"""An RFC 3339 time as written (no offset means UTC); numbers are refused."""

TimeFilter = Annotated[Time, AfterValidator(clamp_time)]
"""A ``since``/``until`` bound, in UTC and within the years 1970 to 9000.

A bound beyond them selects exactly the rows the nearest one does, so it is moved there
rather than refused; before, one whose UTC equivalent left the calendar (such as
``0001-01-01T00:00:00+14:00``) overflowed in the database driver and answered 500."""
