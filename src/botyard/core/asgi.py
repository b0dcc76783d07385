"""Reading the raw ASGI scope on the hot path."""

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes, as ASGI gives names), read from
    the scope rather than through ``request.headers``, which builds a mapping per request."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
