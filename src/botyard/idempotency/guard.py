"""The `Idempotency-Key` header on every POST under /v1, with no per-route code.

Authentication calls :func:`check_idempotency` once the key has passed every check, scope
included, so a replay is never shown to a caller who could not have made the request. The
claim taken there is completed (or released) by the API middleware once the response is known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.responses import Response

from botyard.core.errors import APIError, Conflict
from botyard.idempotency import service
from botyard.idempotency.service import Outcome

if TYPE_CHECKING:
    from botyard.api_keys.deps import Principal

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
CLAIM_STATE = "idempotency_claim"
API_PREFIX = "/v1/"


class IdempotentReplay(Exception):
    """Raised to answer with the first response instead of running the endpoint again."""

    def __init__(self, stored: service.StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.stored = stored


def _bearer_token(request: Request) -> str:
    """The key authentication has just accepted (never stored; it keys the response's cipher)."""
    _, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return token.strip()


async def check_idempotency(request: Request, principal: Principal) -> None:
    """Claim the request's Idempotency-Key, or replay / refuse when it was used before.

    Runs on every authenticated request, so anything but a POST leaves at the first line.
    """
    if request.scope["method"] != "POST" or not request.scope["path"].startswith(API_PREFIX):
        return
    idempotency_key = request.headers.get(HEADER)
    if idempotency_key is None:
        return
    if not service.valid_key(idempotency_key):
        raise APIError(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {service.KEY_MAX_LENGTH} visible ASCII characters, "
            "such as a UUID.",
            param="Idempotency-Key",
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()
    result = await service.claim(
        request.app.state.sessionmaker,
        organization_id=principal.organization_id,
        idempotency_key=idempotency_key,
        method=request.method,
        path=target,
        request_fingerprint=service.fingerprint(principal.key.id, request.method, target, body),
        key=service.cipher_key(_bearer_token(request), principal.organization_id, idempotency_key),
    )
    if result.outcome is Outcome.CLAIMED:
        request.state.idempotency_claim = result.claim
        return
    if result.outcome is Outcome.REPLAY:
        assert result.response is not None
        raise IdempotentReplay(result.response)
    if result.outcome is Outcome.IN_PROGRESS:
        raise Conflict(
            "idempotency_request_in_progress",
            "A request with this Idempotency-Key is still being processed. Retry in a moment "
            "to get its response.",
        )
    raise APIError(
        "idempotency_key_reused",
        "This Idempotency-Key was already used for a different request (another body, URL or "
        "API key) in the last 24 hours. Use a new key for a new request; reuse a key only to "
        "retry exactly the same request.",
        param="Idempotency-Key",
        status_code=422,
    )


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return Response(
        content=exc.stored.body,
        status_code=exc.stored.status_code,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)
