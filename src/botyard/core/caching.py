"""Which API answers must not be stored: declared on the route, applied by the middleware.

Answers that report live state (the rate-limit budget in GET /v1/me and GET /v1/rate_limit)
change with every call, so an ETag could never match: they get ``Cache-Control: no-store``
instead of a validator, and the middleware skips buffering and hashing them.
"""

from typing import Any

NO_STORE: dict[str, Any] = {"x-cache-control": "no-store"}
"""``openapi_extra`` for such a route; the OpenAPI document shows it on the operation."""


def is_no_store(route: object) -> bool:
    extra = getattr(route, "openapi_extra", None) or {}
    return bool(extra.get("x-cache-control") == NO_STORE["x-cache-control"])
