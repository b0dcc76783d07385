"""Prefixed random identifiers (``bot_…``, ``key_…``) and the base62 alphabet they share with keys."""

import secrets
import time

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_RANDOM_LENGTH = 20
TIME_DIGITS = 8
"""Milliseconds since 1970 in 8 base62 digits: enough until the year 8000."""


_UNBIASED_BELOW = 248
"""Bytes under 4 × 62 map evenly onto the alphabet; larger ones are dropped, so no bias."""


def random_base62(length: int) -> str:
    """Uniform base62 from the OS's CSPRNG, one ``token_bytes`` call for the usual case
    (about ten times cheaper than a ``secrets.choice`` per character: ids are on the hot path)."""
    chars: list[str] = []
    while len(chars) < length:
        for byte in secrets.token_bytes(length + 8):
            if byte < _UNBIASED_BELOW:
                chars.append(BASE62[byte % 62])
                if len(chars) == length:
                    break
    return "".join(chars)


def to_base62(number: int, width: int) -> str:
    """Most significant digit first, left-padded with ``0`` to ``width`` characters."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(ID_RANDOM_LENGTH)}"


def new_time_ordered_id(prefix: str, at_ms: int | None = None) -> str:
    """An id whose text sorts by creation time (to the millisecond), then at random.

    For rows written at a high rate (request ids and the log rows named after them): each new
    row lands at the end of the primary-key index instead of at a random page, which makes a
    batch insert on SQLite ~40% cheaper. Same length and alphabet as ``new_id``; 12 random
    characters (71 bits) keep ids made in the same millisecond apart.
    """
    millis = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    random_part = random_base62(ID_RANDOM_LENGTH - TIME_DIGITS)
    return f"{prefix}_{to_base62(millis, TIME_DIGITS)}{random_part}"
