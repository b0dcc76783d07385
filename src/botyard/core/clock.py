"""An injectable clock, so expiry, grace periods and windows are tested by moving time, not sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC; tests replace it with a frozen clock via :func:`set_clock`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        """Seconds since the epoch, without building a datetime (the limiter asks per request)."""
        return time.time()


class FrozenClock(Clock):
    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def timestamp(self) -> float:
        return self._at.timestamp()

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at


_clock: Clock = Clock()


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` and return the previous one so the caller can restore it."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def now() -> datetime:
    return _clock.now()


def timestamp() -> float:
    return _clock.timestamp()
