"""Input refused the same way on every route, before any handler or query sees it.

PostgreSQL cannot store a NUL character (U+0000) in text, so a NUL in a path segment, a
query parameter or a JSON string used to travel down to the driver and answer 500 there.
A body that is not JSON at all, or JSON sent under another media type, is named here too,
with what to fix, instead of surfacing as a validation error about a field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from botyard.core.errors import APIError

NUL = "\x00"
ESCAPED_NUL = b"\\u0000"
"""How a NUL appears in valid JSON (a raw one is refused by the parser itself)."""


class InvalidCharacters(APIError):
    def __init__(self, param: str) -> None:
        super().__init__(
            "invalid_characters",
            f"{param} contains a NUL character (\\u0000), which cannot be stored; remove it.",
            param=param,
        )


def shown(name: str) -> str:
    """A parameter name fit for a message, its own NULs written as escapes."""
    return name.replace(NUL, "\\u0000")


def nul_query_parameter(query_string: bytes) -> str | None:
    """The first query parameter whose name or value holds a NUL, once percent-decoded."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    text = query_string.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True, errors="replace"):
        if NUL in name or NUL in value:
            return shown(name)
    return None


def nul_path_parameter(path_params: Mapping[str, Any]) -> str | None:
    for name, value in path_params.items():
        if isinstance(value, str) and NUL in value:
            return name
    return None


def _nul_in(value: Any, path: tuple[str, ...]) -> str | None:
    """The dotted path (``tags.2``) of the first string or key in ``value`` holding a NUL."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, str):
        return (".".join(path) or "body") if NUL in value else None
    if isinstance(value, dict):
        for key in value:
            if NUL in key:
                return ".".join((*path, shown(key)))
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _nul_in(item, (*path, str(key)))
        if found is not None:
            return found
    return None


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or any ``application/…+json``, as FastAPI decides what to parse."""
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media_type.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def body_problem(body: bytes, content_type: str | None) -> APIError | None:
    """Why a request body cannot be read as the JSON every /v1 endpoint takes, if it cannot."""
    if not body:
        return None
    if not is_json_media_type(content_type):
        sent = f"as {content_type.split(';', 1)[0].strip()}" if content_type else "without one"
        return APIError(
            "unsupported_media_type",
            f"Request bodies are JSON: set the header `Content-Type: application/json` (the "
            f"body was sent {sent}).",
            param="Content-Type",
            status_code=415,
        )
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        return APIError(
            "invalid_json",
            f"The body is not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno}, "
            f"column {exc.colno}.",
        )
    except UnicodeDecodeError:
        return APIError("invalid_json", "The body is not valid JSON: it is not UTF-8 text.")
    except RecursionError:
        return APIError("invalid_json", "The body is not valid JSON: it is nested too deeply.")
    if ESCAPED_NUL in body:
        param = _nul_in(parsed, ())
        if param is not None:
            return InvalidCharacters(param)
    return None
