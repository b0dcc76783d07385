"""Refused unauthenticated requests past a threshold per address are counted, not each logged.

A client hammering the API without a valid key (no key, a revoked or expired one, a blocked
address: 1,000 a second were seen) would otherwise write a request-log row per request. Each
address gets ``per_address`` rows per window; the rest are only counted, and one warning line
per window says how many were left out. The counts since the process started are what
``refused_request_counts()`` returns, for ``/metrics``:

- ``logged``: refused unauthenticated requests written as request-log rows;
- ``aggregated``: those counted without a row of their own.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("botyard.requestlog")

REFUSED_STATUSES = frozenset({401, 403, 429})
WINDOW_SECONDS = 60.0
MAX_TRACKED_ADDRESSES = 10_000
"""Past this many addresses in one window, a new address gets no rows: the table of counts
stays bounded however many addresses (IPv6 makes them cheap) an attacker uses."""

_totals = {"logged": 0, "aggregated": 0}


def refused_request_counts() -> dict[str, int]:
    """Refused unauthenticated requests in this process, logged as rows or aggregated."""
    return dict(_totals)


class RefusalSampler:
    """Decides, per refused unauthenticated request, whether it gets a request-log row."""

    def __init__(self, per_address: int, window: float = WINDOW_SECONDS) -> None:
        self.per_address = per_address
        self.window = window
        self._seen: dict[str, int] = {}
        self._window_start = time.monotonic()
        self._aggregated_in_window = 0

    def keep(self, ip: str | None) -> bool:
        now = time.monotonic()
        if now - self._window_start >= self.window:
            self._start_window(now)
        address = ip or "unknown"
        seen = self._seen.get(address)
        if seen is None and len(self._seen) >= MAX_TRACKED_ADDRESSES:
            seen = self.per_address
        else:
            self._seen[address] = (seen or 0) + 1
        if (seen or 0) < self.per_address:
            _totals["logged"] += 1
            return True
        _totals["aggregated"] += 1
        self._aggregated_in_window += 1
        return False

    def _start_window(self, now: float) -> None:
        if self._aggregated_in_window:
            over = sum(1 for count in self._seen.values() if count > self.per_address)
            logger.warning(
                "%d refused unauthenticated requests from %d addresses were counted without "
                "a request-log row in the last %.0f s (each address gets %d rows per window)",
                self._aggregated_in_window,
                over,
                now - self._window_start,
                self.per_address,
            )
        self._seen.clear()
        self._aggregated_in_window = 0
        self._window_start = now
