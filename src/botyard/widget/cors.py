"""CORS by hand, for the widget routes alone (secret-key routes never send a CORS header).

An answer to an allowed origin carries ``Access-Control-Allow-Origin: <that origin>`` and
``Vary: Origin``, errors and 429s included, so the widget can read why it was refused. The
origin check itself is the widget's authentication (``deps.authenticate_widget``), which
leaves the allowed origin in the request state for the middleware to echo.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from botyard.core.errors import error_response
from botyard.widget.service import publishable_keys

STATE_KEY = "cors_origin"
"""Where the widget's authentication leaves an allowed origin, in the request state."""
ALLOWED_METHODS = "GET, POST"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Visitor-Token"
EXPOSED_HEADERS = (
    "Retry-After, X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Used, "
    "X-RateLimit-Reset, RateLimit, RateLimit-Policy"
)
PREFLIGHT_MAX_AGE = "600"
WIDGET_PATHS = (
    "/v1/widget/config",
    "/v1/widget/conversations",
    "/v1/widget/conversations/{conversation_id}/messages",
)


def response_headers(origin: str) -> list[tuple[bytes, bytes]]:
    """What the middleware adds to a widget answer for an allowed origin."""
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
        (b"vary", b"Origin"),
    ]


async def preflight(request: Request) -> Response:
    """A preflight carries no key: answer it for any origin on an active key's list."""
    origin = request.headers.get("origin")
    if origin is None or "access-control-request-method" not in request.headers:
        return Response(status_code=204, headers={"Allow": f"{ALLOWED_METHODS}, OPTIONS"})
    if not await publishable_keys.any_key_allows(request.app.state.engine, origin):
        return error_response(
            request,
            403,
            type="insufficient_permissions",
            code="origin_not_allowed",
            message=f"Insufficient Permissions: no publishable key allows the origin "
            f"{origin[:200]}. Add it to a key's allowed origins in the bot's Website widget card.",
            headers={"Vary": "Origin"},
        )
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            "Vary": "Origin",
        },
    )


preflight_routes = [Route(path, preflight, methods=["OPTIONS"]) for path in WIDGET_PATHS]
"""Plain Starlette routes: not API operations (no OpenAPI entry, no key)."""
