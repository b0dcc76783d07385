"""Static files served with a content hash in their URL, so browsers may cache them forever."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


@cache
def file_version(path: Path) -> str:
    """A short content hash: a changed file gets a new URL, an unchanged one stays cached."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
