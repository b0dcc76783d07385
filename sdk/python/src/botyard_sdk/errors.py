"""Exceptions the client raises: one class per kind of failure, each carrying the API's envelope.

The guide tells developers to handle "Invalid API Key" and "Insufficient Permissions"
distinctly: they are :class:`AuthenticationError` (401) and :class:`PermissionDeniedError`
(403), and ``.code`` says which cause applies (``api_key_expired``, ``missing_scope``, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class BotyardError(Exception):
    """Base of every exception this package raises."""


class APIError(BotyardError):
    """The API answered with an error, or could not be reached (see the subclasses).

    ``status`` is the HTTP status (None when no answer came), ``type`` and ``code`` the
    envelope's machine-readable reason, ``param`` the field at fault, ``request_id`` the id
    to quote to support, ``retry_after`` the seconds the server asked to wait, if it did.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        doc_url: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.doc_url = doc_url
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = dict(headers or {})

    def __str__(self) -> str:
        parts = [str(self.status)] if self.status is not None else []
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.param:
            text += f" (param: {self.param})"
        if self.request_id:
            text += f" [request_id: {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class ValidationError(APIError):
    """400 or 422: the request was refused as invalid; ``param`` names the field."""


class AuthenticationError(APIError):
    """401 "Invalid API Key": missing, malformed, unknown, expired or revoked key."""


class PermissionDeniedError(APIError):
    """403 "Insufficient Permissions": a missing scope, the plan, or the IP allow-list."""


class NotFoundError(APIError):
    """404: no such object in this organization."""


class ConflictError(APIError):
    """409: the request conflicts with the current state (retried first, as the API asks)."""


class RateLimitError(APIError):
    """429: over the organization's hourly limit; ``retry_after`` says when to try again."""


class APIConnectionError(APIError):
    """No answer: the server could not be reached or the connection broke."""


class APITimeoutError(APIConnectionError):
    """No answer within the configured timeout."""


class WebhookVerificationError(BotyardError):
    """A webhook delivery whose signature or timestamp does not check out: refuse it."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}

_ENVELOPE_TEXT_LIMIT = 200


def error_for_status(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    retry_after: float | None,
    redact: str,
) -> APIError:
    """The exception for an error answer, from the API's ``{"error": {…}}`` envelope.

    ``redact`` (the client's key) is removed from any text taken from the answer, so the key
    cannot reach a log through an exception even if something between here and the server
    echoed it."""
    envelope = body.get("error") if isinstance(body, dict) else None
    fields: dict[str, Any] = envelope if isinstance(envelope, dict) else {}
    message = fields.get("message")
    if not isinstance(message, str):
        snippet = body if isinstance(body, str) else ""
        message = f"HTTP {status}" + (f": {snippet[:_ENVELOPE_TEXT_LIMIT]}" if snippet else "")

    def text(name: str) -> str | None:
        value = fields.get(name)
        return _redacted(value, redact) if isinstance(value, str) else None

    return _BY_STATUS.get(status, APIError)(
        _redacted(message, redact),
        status=status,
        type=text("type"),
        code=text("code"),
        param=text("param"),
        request_id=text("request_id") or headers.get("x-request-id"),
        doc_url=text("doc_url"),
        retry_after=retry_after,
        headers=headers,
    )


def _redacted(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if secret else text
