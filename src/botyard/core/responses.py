"""JSON answers serialized once, for hot endpoints that build their data from trusted values.

FastAPI validates what an endpoint returns against its response model and then serializes
it; for GET /v1/me and GET /v1/rate_limit, whose every field comes from the server's own
typed state, that second pass cost more than the rest of the endpoint. Such endpoints keep
``response_model`` for the OpenAPI document (and a test that checks their bodies against
it) and return one of these instead.
"""

from typing import Any

from pydantic_core import to_json
from starlette.background import BackgroundTask
from starlette.responses import Response


class PreparedJSON(Response):
    """``content`` of str, int, float, bool, None, lists and dicts, serialized as compact
    UTF-8 JSON like FastAPI's own responses. Format dates before passing them in."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(to_json(content), status_code, headers, None, background)
