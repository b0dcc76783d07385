"""The key format: ``byk_`` + 32 random base62 + 6 base62 of the CRC32 of the first 36 characters.

The checksum lets the server refuse a mistyped or truncated key without touching the database,
and lets secret scanners recognise a leaked Botyard key with few false positives. Publishable
keys (``byp_``) and widget visitor tokens (``byv_``) use the same scheme with their own prefix.
"""

from __future__ import annotations

import hashlib
import re
import zlib

from botyard.core.ids import BASE62, random_base62

PREFIX = "byk_"
PUBLISHABLE_PREFIX = "byp_"
VISITOR_TOKEN_PREFIX = "byv_"  # noqa: S105 (a prefix, not a token)
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
KEY_PATTERN = re.compile(rf"{PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")
_PATTERNS = {
    prefix: re.compile(rf"{prefix}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")
    for prefix in (PREFIX, PUBLISHABLE_PREFIX, VISITOR_TOKEN_PREFIX)
}
_KIND_NAMES = {
    PREFIX: "Botyard keys",
    PUBLISHABLE_PREFIX: "Publishable keys",
    VISITOR_TOKEN_PREFIX: "Visitor tokens",
}
_BASE62_SET = frozenset(BASE62)
_PLACES = tuple(62**power for power in reversed(range(CHECKSUM_LENGTH)))
WHITESPACE = re.compile(r"\s")
"""Finds what ``str.isspace`` calls whitespace (both use Unicode's definition), in C."""


def checksum(body: str) -> str:
    """Base62 of the CRC32, most significant digit first, left-padded with ``0``."""
    value = zlib.crc32(body.encode("ascii"))
    return "".join([BASE62[value // place % 62] for place in _PLACES])


def generate(prefix: str = PREFIX) -> str:
    body = prefix + random_base62(RANDOM_LENGTH)
    return body + checksum(body)


def hash_key(key: str) -> str:
    """What is stored and looked up: SHA-256 of the whole key (fast, and keys carry 190 bits)."""
    return hashlib.sha256(key.encode()).hexdigest()


def hint(key: str) -> str:
    return f"{key[:8]}…{key[-4:]}"


def format_problem(candidate: str, prefix: str = PREFIX) -> str | None:
    """Why ``candidate`` cannot be a Botyard key (of ``prefix``), in words a user can act on;
    None if it can.

    Every request pays for this, so a well-formed key takes one regex and one CRC32; the
    diagnosis below runs only for keys that fail."""
    if (
        _PATTERNS[prefix].fullmatch(candidate)
        and checksum(candidate[:-CHECKSUM_LENGTH]) == candidate[-CHECKSUM_LENGTH:]
    ):
        return None
    if WHITESPACE.search(candidate):
        return "the key contains spaces or line breaks"
    if not candidate.startswith(prefix):
        return f"{_KIND_NAMES[prefix]} start with {prefix!r}"
    if len(candidate) != KEY_LENGTH:
        shorter = "shorter" if len(candidate) < KEY_LENGTH else "longer"
        return f"the key is {len(candidate)} characters long, {shorter} than the {KEY_LENGTH} of a Botyard key"
    if not _BASE62_SET.issuperset(candidate[len(prefix) :]):
        return "the key contains characters that never appear in a Botyard key"
    if checksum(candidate[:-CHECKSUM_LENGTH]) != candidate[-CHECKSUM_LENGTH:]:
        return "the key's checksum does not match, so a character was changed or mistyped"
    return None
