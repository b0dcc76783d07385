"""Argon2id password hashing with the library's recommended parameters.

Each hash costs tens of milliseconds of CPU and 64 MiB, on purpose. Run on the event loop, a
few concurrent login guesses would stall every other request of every tenant, so the async
helpers run it in a small thread pool (argon2-cffi releases the GIL while it hashes) behind
a semaphore: at most ``HASH_CONCURRENCY`` hashes run at once and the rest wait their turn
without holding a thread, which also bounds the memory hashing can take.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MIN_STRENGTH = 2
"""zxcvbn's score from 0 to 4; under 2 it guesses the password in fewer than 10^6 tries
(repeats like ``1111111111``, sequences, keyboard walks, a dictionary word and a year)."""
_SCORED_LENGTH = 72
"""zxcvbn's own limit on the length it scores (it is quadratic beyond); the start decides."""
_MIN_EMAIL_PART = 3
"""An email's part before the @ shorter than this is too common a string to refuse."""


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of the leaks zxcvbn's list was built from."""
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why a new password is refused, in a sentence for its owner; None when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters."
    lowered = password.lower()
    local = (email or "").strip().lower().partition("@")[0]
    if len(local) >= _MIN_EMAIL_PART and local in lowered:
        return "Password must not contain your email address or the part of it before the @."
    if lowered in _common_passwords():
        return "This password is on a list of commonly used passwords. Choose another one."
    verdict = zxcvbn(password[:_SCORED_LENGTH])
    if verdict["score"] < MIN_STRENGTH:
        warning = verdict["feedback"]["warning"] or "it follows a common pattern"
        return (
            f"This password is too easy to guess ({warning.rstrip('.')}). Choose a longer or "
            "less predictable one: a few unrelated words work well."
        )
    return None


HASH_CONCURRENCY = max(1, min(4, (os.cpu_count() or 1) // 2))
"""Each hash runs up to 4 lanes in parallel (argon2's threads), so half the cores suffice."""
HASH_THREAD_NICENESS = 10


def _lower_priority() -> None:
    """Hashing threads (and the lane threads argon2 starts from them, which inherit it) yield
    the CPU to the event loop's thread: a busy login burst slows logins, not the API."""
    # Not Linux, or not permitted: keep the default priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)


_pool = ThreadPoolExecutor(
    max_workers=HASH_CONCURRENCY, thread_name_prefix="argon2", initializer=_lower_priority
)
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def hash_password(password: str) -> str:
    """Blocking: for the CLI and other code that runs off the event loop."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time even for users without a password, so timing does not reveal them."""
    if not password_hash:
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _gate() -> asyncio.Semaphore:
    """One semaphore per event loop (a semaphore belongs to the loop it first waits on)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(HASH_CONCURRENCY)
    return gate


async def hash_password_async(password: str) -> str:
    async with _gate():
        return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    async with _gate():
        return await asyncio.get_running_loop().run_in_executor(
            _pool, verify_password, password_hash, password
        )
