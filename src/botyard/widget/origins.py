"""Allowed origins of a publishable key: ``scheme://host[:port]``, optionally ``*.`` subdomains.

Origins are compared the way browsers send them in the ``Origin`` header: lower case, no
path, and no port when it is the scheme's default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from botyard.core.errors import APIError

MAX_ORIGINS = 50
ORIGIN_MAX = 253
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_ORIGIN = re.compile(
    rf"(?P<scheme>https?)://(?P<wildcard>\*\.)?(?P<host>{_HOST_LABEL}(?:\.{_HOST_LABEL})*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>\d{1,5}))?"
)


def _invalid(entry: str, why: str) -> APIError:
    return APIError(
        "invalid_allowed_origins",
        f"{entry!r} is not an allowed origin: {why}. Write scheme, host and optional port, "
        "like https://shop.example or http://localhost:3000 (a leading *. allows subdomains).",
        param="allowed_origins",
        status_code=422,
        type="validation_error",
    )


def normalize(entry: str) -> str:
    """The canonical form of one configured origin, or an error naming what is wrong."""
    text = entry.strip().lower()
    if text.endswith("/"):
        text = text[:-1]
    if not text or len(text) > ORIGIN_MAX:
        raise _invalid(entry, f"it must be 1 to {ORIGIN_MAX} characters")
    match = _ORIGIN.fullmatch(text)
    if match is None:
        if "://" in text and "/" in text.split("://", 1)[1]:
            raise _invalid(entry, "an origin has no path")
        raise _invalid(entry, "it must start with http:// or https:// and name a host")
    scheme, host, port = match["scheme"], match["host"], match["port"]
    if port is not None:
        number = int(port)
        if not 1 <= number <= 65535:
            raise _invalid(entry, "the port must be 1 to 65535")
        port = None if number == DEFAULT_PORTS[scheme] else str(number)
    wildcard = "*." if match["wildcard"] else ""
    return f"{scheme}://{wildcard}{host}" + (f":{port}" if port else "")


def normalize_all(entries: Iterable[str] | None) -> list[str]:
    """At least one origin, each canonical, without duplicates (first-seen order kept)."""
    result: list[str] = []
    for entry in entries or ():
        origin = normalize(entry)
        if origin not in result:
            result.append(origin)
    if not result:
        raise APIError(
            "invalid_allowed_origins",
            "List at least one origin where the widget may run, like https://shop.example.",
            param="allowed_origins",
            status_code=422,
            type="validation_error",
        )
    if len(result) > MAX_ORIGINS:
        raise APIError(
            "invalid_allowed_origins",
            f"At most {MAX_ORIGINS} allowed origins per key.",
            param="allowed_origins",
            status_code=422,
            type="validation_error",
        )
    return result


@dataclass(frozen=True, slots=True)
class OriginSet:
    """Origins to match a browser's ``Origin`` header against: exact ones and wildcards."""

    exact: frozenset[str]
    wildcard_suffixes: tuple[tuple[str, str], ...]
    """(``scheme://``, ``.host[:port]``) for each ``scheme://*.host[:port]`` entry."""

    @classmethod
    def of(cls, origins: Iterable[str]) -> OriginSet:
        exact: set[str] = set()
        wildcards: list[tuple[str, str]] = []
        for origin in origins:
            scheme, _, rest = origin.partition("://")
            if rest.startswith("*."):
                wildcards.append((f"{scheme}://", rest[1:]))
            else:
                exact.add(origin)
        return cls(frozenset(exact), tuple(wildcards))

    def allows(self, origin: str) -> bool:
        candidate = origin.strip().lower()
        if candidate in self.exact:
            return True
        for scheme, suffix in self.wildcard_suffixes:
            if candidate.startswith(scheme) and candidate.endswith(suffix):
                label = candidate[len(scheme) : -len(suffix)]
                # One or more whole labels in front of the suffix: no "/" ":" "@" tricks.
                if label and re.fullmatch(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*", label):
                    return True
        return False


def origin_of_url(url: str) -> str:
    """The origin a browser would send for a page at ``url`` (used for BOTYARD_PUBLIC_URL)."""
    scheme, _, rest = url.strip().lower().partition("://")
    host_port = rest.split("/", 1)[0]
    host, _, port = host_port.partition(":")
    if port and port.isdigit() and int(port) == DEFAULT_PORTS.get(scheme):
        port = ""
    return f"{scheme}://{host}" + (f":{port}" if port else "")
