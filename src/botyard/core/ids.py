"""Prefixed random identifiers (``bot_…``, ``key_…``) and the base62 alphabet they share with keys."""

import os
import secrets
import threading
import time
from collections.abc import Callable

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_RANDOM_LENGTH = 20
TIME_DIGITS = 8
"""Milliseconds since 1970 in 8 base62 digits: enough until the year 8000."""

_UNBIASED_BELOW = 248
"""Bytes under 4 × 62 map evenly onto the alphabet; larger ones are dropped, so no bias."""
_TO_BASE62 = bytes(ord(BASE62[b % 62]) if b < _UNBIASED_BELOW else 0 for b in range(256))
_DROPPED = bytes(range(_UNBIASED_BELOW, 256))


class _RandomPool:
    """Bytes from the OS's CSPRNG, fetched 4 KiB at a time, for identifiers.

    Every request gets an id, and ``os.urandom`` is a system call that also lets go of the
    GIL, so any busy thread (the request-log writer) could take it and the request would wait
    for it back. Identifiers are not secrets; keys never come from here. A forked child
    starts with an empty pool, so no two processes hand out the same bytes.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buffer = b""
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""

    def take(self, count: int) -> bytes:
        with self._lock:
            if len(self._buffer) < count:
                self._buffer = os.urandom(max(self._size, count))
            taken, self._buffer = self._buffer[:count], self._buffer[count:]
            return taken


_id_bytes = _RandomPool()


def random_base62(length: int, draw: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """Uniform base62 from random bytes (the OS's CSPRNG by default), mapped in C."""
    text = b""
    while len(text) < length:
        text += draw(length + 8).translate(_TO_BASE62, _DROPPED)
    return text[:length].decode("ascii")


def to_base62(number: int, width: int) -> str:
    """Most significant digit first, left-padded with ``0`` to ``width`` characters."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(ID_RANDOM_LENGTH, _id_bytes.take)}"


def new_time_ordered_id(prefix: str, at_ms: int | None = None) -> str:
    """An id whose text sorts by creation time (to the millisecond), then at random.

    For rows written at a high rate (request ids and the log rows named after them): each new
    row lands at the end of the primary-key index instead of at a random page, which makes a
    batch insert on SQLite ~40% cheaper. Same length and alphabet as ``new_id``; 12 random
    characters (71 bits) keep ids made in the same millisecond apart.
    """
    millis = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    random_part = random_base62(ID_RANDOM_LENGTH - TIME_DIGITS, _id_bytes.take)
    return f"{prefix}_{to_base62(millis, TIME_DIGITS)}{random_part}"
