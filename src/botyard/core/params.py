"""Query parameters shared by list endpoints."""

from typing import Annotated

from fastapi import Query

from botyard.core.pagination import MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1 to 100")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]
