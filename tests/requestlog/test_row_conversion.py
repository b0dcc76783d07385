"""The writer's own conversion of timestamps must store exactly what SQLAlchemy would."""

import sqlite3
import warnings
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from botyard.core.database import UTCDateTime
from botyard.requestlog.writer import sqlite_utc_text


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 27, 5, 12, 25, 123456, tzinfo=UTC),
        datetime(2026, 11, 27, 5, 12, 25, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 27, 7, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_sqlite_text_matches_the_column_types_own_conversion(value: datetime) -> None:
    dialect = sqlite.dialect()
    column_type = UTCDateTime()
    processor = column_type.bind_processor(dialect)
    assert processor is not None
    with warnings.catch_warnings(), sqlite3.connect(":memory:") as connection:
        warnings.simplefilter("ignore", DeprecationWarning)  # the default datetime adapter
        stored = connection.execute("SELECT ?, ?", (processor(value), sqlite_utc_text(value)))
        by_sqlalchemy, by_writer = stored.fetchone()
    assert by_writer == by_sqlalchemy
