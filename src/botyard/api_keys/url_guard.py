"""Keys never travel in URLs: logs, proxies and browser history keep URLs.

Checked for every /v1 request before routing, so an unknown path or a key pasted into a path
segment is refused like a key in the query string, and a real key found there is flagged.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from sqlalchemy.ext.asyncio import AsyncEngine

from botyard.api_keys import keyformat
from botyard.api_keys.cache import VerifiedKey, key_cache
from botyard.core.errors import InvalidAPIKey

URL_KEY_PARAMS = frozenset({"api_key", "key", "token"})
KEY_LIKE = re.compile(rf"{keyformat.PREFIX}[0-9A-Za-z]{{8,}}")


DECODING_ROUNDS = 3
"""How many times a URL part is percent-decoded when looking for a key: a proxy or a log
reader down the line may decode what Botyard decoded once (``%2562yk_…``)."""


def _decoded(text: str) -> str:
    for _ in range(DECODING_ROUNDS):
        if "%" not in text:
            break
        text = unquote(text)
    return text


def exposed_key(path: str, query_string: bytes) -> tuple[str | None, str] | None:
    """Where a key appears in the URL and the candidate key: ``"path"``, the name of the
    query parameter that carries it, or None when the parameter's name is the key itself."""
    match = KEY_LIKE.search(_decoded(path))
    if match:
        return "path", match.group(0)
    if not query_string:
        return None
    for raw_name, raw_value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        name, value = _decoded(raw_name), _decoded(raw_value)
        match = KEY_LIKE.search(name)
        if match:
            return None, match.group(0)
        if name.lower() in URL_KEY_PARAMS:
            return name, value.strip()
        match = KEY_LIKE.search(value)
        if match:
            return name, match.group(0)
    return None


async def check_url(
    path: str, query_string: bytes, engine: AsyncEngine
) -> tuple[InvalidAPIKey, VerifiedKey | None] | None:
    """The refusal for a URL that carries a key, and the key it exposed if it is a real one."""
    found = exposed_key(path, query_string)
    if found is None:
        return None
    where, candidate = found
    verified = None
    if keyformat.format_problem(candidate) is None:
        key_hash = keyformat.hash_key(candidate)
        verified = await key_cache.lookup(key_hash, engine)
    if where == "path":
        place = "the URL path"
    elif where is None:
        place = "the URL (as a query parameter's name)"
    else:
        place = f"the URL (query parameter {where[:40]!r})"
    error = InvalidAPIKey(
        "api_key_in_url",
        f"an API key was sent in {place}. Keys must never be put in URLs, where logs and "
        "browser history keep them: send it in the Authorization header as `Bearer <key>`. "
        "If this was a real key, rotate it in Settings > API.",
    )
    return error, verified
