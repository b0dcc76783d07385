"""The metrics token: what lets a scraper (and an operator) see the server's internals."""

from __future__ import annotations

import hmac
from enum import Enum

from starlette.requests import Request


class TokenCheck(Enum):
    UNSET = "unset"  # BOTYARD_METRICS_TOKEN is not configured
    MISSING = "missing"
    WRONG = "wrong"
    VALID = "valid"


def check_metrics_token(request: Request) -> TokenCheck:
    """Compare the bearer token with BOTYARD_METRICS_TOKEN in constant time."""
    configured = request.app.state.settings.metrics_token
    if configured is None:
        return TokenCheck.UNSET
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return TokenCheck.MISSING
    expected = configured.get_secret_value().encode()
    return (
        TokenCheck.VALID
        if hmac.compare_digest(token.strip().encode(), expected)
        else TokenCheck.WRONG
    )
