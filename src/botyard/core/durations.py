"""Human durations such as ``90s``, ``15m``, ``12h`` or ``90d``, as the CLI and API accept them."""

import re
from datetime import timedelta

_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Raise ValueError with a message fit for a user when ``text`` is not a duration."""
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; use a number and a unit, like 90s, 15m, 12h or 90d"
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    return timedelta(**{_UNITS[unit]: amount})
