"""Prefixed random identifiers (``bot_…``, ``key_…``) and the base62 alphabet they share with keys."""

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_RANDOM_LENGTH = 20


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def to_base62(number: int, width: int) -> str:
    """Most significant digit first, left-padded with ``0`` to ``width`` characters."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_base62(ID_RANDOM_LENGTH)}"
