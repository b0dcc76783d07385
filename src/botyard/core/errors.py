"""The one error envelope of the API and the handlers that turn every failure into it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from botyard.core.security_headers import security_headers

logger = logging.getLogger("botyard.errors")

BODY_PROBLEM = "body_problem"
"""Request state: why the body was hidden from the endpoint (see the API middleware)."""

WWW_AUTHENTICATE = 'Bearer realm="botyard", error="invalid_token"'


class APIError(Exception):
    """An error the client can act on; rendered as ``{"error": {type, code, message, …}}``."""

    status_code = 400
    type = "invalid_request"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        status_code: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        if status_code is not None:
            self.status_code = status_code
        if type is not None:
            self.type = type
        self.headers = dict(headers or {})


class InvalidAPIKey(APIError):
    status_code = 401
    type = "invalid_api_key"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(
            code, f"Invalid API Key: {detail}", headers={"WWW-Authenticate": WWW_AUTHENTICATE}
        )


class InsufficientPermissions(APIError):
    status_code = 403
    type = "insufficient_permissions"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, f"Insufficient Permissions: {detail}")


class NotFound(APIError):
    status_code = 404
    type = "not_found"

    def __init__(self, what: str, param: str | None = None) -> None:
        super().__init__("resource_missing", f"No such {what}.", param=param)


class Conflict(APIError):
    status_code = 409
    type = "conflict"


class RateLimited(APIError):
    status_code = 429
    type = "rate_limit_exceeded"


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def error_body(
    request: Request, *, type: str, code: str, message: str, param: str | None = None
) -> dict[str, Any]:
    settings = request.app.state.settings
    doc_base = settings.doc_base_url or f"{settings.public_url}/docs/errors"
    error: dict[str, Any] = {
        "type": type,
        "code": code,
        "message": message,
        "doc_url": f"{doc_base}#{code}",
        "request_id": request_id_of(request),
    }
    if param is not None:
        error["param"] = param
    return {"error": error}


def error_response(
    request: Request,
    status_code: int,
    *,
    type: str,
    code: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render the envelope and remember the code so the request log can record it."""
    request.scope.setdefault("state", {})["error_code"] = code
    body = error_body(request, type=type, code=code, message=message, param=param)
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return error_response(
        request,
        exc.status_code,
        type=exc.type,
        code=exc.code,
        message=exc.message,
        param=exc.param,
        headers=exc.headers,
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[-1] if loc else "")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problem = request.scope.get("state", {}).get(BODY_PROBLEM)
    if isinstance(problem, APIError):
        return await _api_error(request, problem)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = _field_path(tuple(first.get("loc", ())))
    # Pydantic prefixes what a validator raised with "Value error, ": the API says it plainly.
    problem = str(first.get("msg")).removeprefix("Value error, ")
    message = f"{param}: {problem}" if param else problem
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(
        request,
        422,
        type="validation_error",
        code="invalid_parameter" if param else "invalid_body",
        message=message,
        param=param or None,
    )


_HTTP_TYPES = {
    400: ("invalid_request", "bad_request"),
    404: ("not_found", "route_not_found"),
    405: ("invalid_request", "method_not_allowed"),
    413: ("payload_too_large", "payload_too_large"),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_, code = _HTTP_TYPES.get(exc.status_code, ("invalid_request", "http_error"))
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route {request.method} {request.url.path}."
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = (
            f"{request.method} is not allowed on {request.url.path}; "
            f"it takes {' or '.join(allowed)}."
        )
    return error_response(
        request, exc.status_code, type=type_, code=code, message=message, headers=headers
    )


METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path takes.

    Starlette answers 405 from the first route whose path matched, so its ``Allow`` named that
    route's methods only (``PUT /v1/bots`` said ``Allow: GET``, though POST works too).
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m))


def unexpected_error_response(request: Request, *, stamped: bool = False) -> JSONResponse:
    """The 500 for an exception no handler claimed (logged here, with its traceback).

    The API middleware answers with it itself instead of letting the exception reach the
    server, which would close the keep-alive connection without ``Connection: close``.
    """
    logger.exception("unhandled error in %s %s", request.method, request.url.path)
    request_id = request_id_of(request)
    response = error_response(
        request,
        500,
        type="api_error",
        code="internal_error",
        message="Something went wrong on our side. Quote the request id if you contact support.",
        # Unless ``stamped``, this is sent outside the middleware that stamps every response.
        headers={"X-Request-Id": request_id} if request_id and not stamped else None,
    )
    if not stamped:
        response.raw_headers.extend(security_headers(request.scope["scheme"]))
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
