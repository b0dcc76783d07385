"""Flags a route declares in its ``openapi_extra``, so the OpenAPI document shows them, and
that the middleware or the limiter read from the matched route at request time."""

from typing import Any

NO_STORE: dict[str, Any] = {"x-cache-control": "no-store"}
"""Answers that report live state (the rate-limit budget in GET /v1/me and GET /v1/rate_limit)
change with every call, so an ETag could never match: they get ``Cache-Control: no-store``
instead of a validator, and the middleware skips buffering and hashing them."""


def has_mark(route: object, mark: dict[str, Any]) -> bool:
    """Whether ``route`` (None before routing) declares every entry of ``mark``."""
    extra: dict[str, Any] = getattr(route, "openapi_extra", None) or {}
    return mark.items() <= extra.items()
