"""The bounded in-memory ETag cache behind conditional GETs of single objects."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Cached:
    etag: str
    body: bytes


class ETagCache:
    """Least-recently-used answers by URL, at most ``max_entries`` (0 turns caching off).

    Bodies are kept as bytes and parsed on each use, so no caller can change what another
    gets back. A lock makes one client safe to share between threads."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("etag_cache_size must be 0 or more")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str) -> Cached | None:
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None:
                self._entries.move_to_end(url)
            return entry

    def put(self, url: str, etag: str, body: bytes) -> None:
        if self.max_entries == 0:
            return
        with self._lock:
            self._entries[url] = Cached(etag, body)
            self._entries.move_to_end(url)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, url: str) -> None:
        with self._lock:
            self._entries.pop(url, None)
