"""JSON answers serialized once, for hot endpoints that build their data from trusted values.

FastAPI validates what an endpoint returns against its response model and then serializes
it; for GET /v1/me and GET /v1/rate_limit, whose every field comes from the server's own
typed state, that second pass cost more than the rest of the endpoint. Such endpoints keep
``response_model`` for the OpenAPI document (and a test that checks their bodies against
it) and return one of these instead.
"""

from typing import Any

from pydantic_core import to_json
from starlette.responses import Response


class PreparedJSON(Response):
    """A 200 answer whose ``content`` (str, int, float, bool, None, lists and dicts) is
    serialized as compact UTF-8 JSON like FastAPI's own responses. Format dates before
    passing them in.

    Sets what ``Response.__init__`` would (status, body, background, raw headers) directly:
    that generic path handles header mappings, charsets and bodiless statuses that never
    apply here, and cost a quarter of the endpoint."""

    media_type = "application/json"

    def __init__(self, content: Any) -> None:
        self.status_code = 200
        self.background = None
        self.body = body = to_json(content)
        self.raw_headers = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]
