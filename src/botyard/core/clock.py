"""An injectable clock, so expiry, grace periods and windows are tested by moving time, not sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial


class Clock:
    """Wall-clock time in UTC; tests replace it with a frozen clock via :func:`set_clock`."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        """Seconds since the epoch, without building a datetime (the limiter asks per request)."""
        return time.time()

    def readers(self) -> tuple[Callable[[], datetime], Callable[[], float]]:
        """What the module's ``now`` and ``timestamp`` call while this clock is installed.

        The real clock hands out C functions: every API request reads the time three times,
        and a second layer of Python calls per read costs more than the read itself. A
        subclass that tells time its own way gets its own methods."""
        cls = type(self)
        if cls.now is Clock.now and cls.timestamp is Clock.timestamp:
            return partial(datetime.now, UTC), time.time
        return self.now, self.timestamp


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
_now, _timestamp = _clock.readers()


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` and return the previous one so the caller can restore it."""
    global _clock, _now, _timestamp
    previous, _clock = _clock, clock
    _now, _timestamp = clock.readers()
    return previous


def now() -> datetime:
    """The installed clock's time. A stable function (column defaults hold on to it) that
    calls the clock's reader directly."""
    return _now()


def timestamp() -> float:
    return _timestamp()
