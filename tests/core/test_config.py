"""Settings refuse what would silently misbehave."""

import pytest
from pydantic import ValidationError

from botyard.core.config import Settings


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "sqlite:///:memory:",
        "sqlite+aiosqlite:///file:botyard?mode=memory&cache=shared&uri=true",
    ],
)
def test_in_memory_sqlite_is_refused_with_the_reason(url: str) -> None:
    with pytest.raises(ValidationError, match="in-memory SQLite database is not supported"):
        Settings(database_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///./botyard.db",
        "sqlite+aiosqlite:////var/lib/botyard/botyard.db",
        "postgresql+asyncpg://postgres@127.0.0.1:5432/botyard",
    ],
)
def test_file_and_server_databases_are_accepted(url: str) -> None:
    assert Settings(database_url=url).database_url == url
