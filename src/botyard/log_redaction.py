"""Secrets kept out of log lines that quote URLs (uvicorn's access log above all).

API keys refused in a URL, key-like query parameters, invitation and password reset tokens
(which travel in their link's path) are replaced with ``[redacted]`` before any handler formats
the record, whether the URL spells them plainly or percent-encoded (uvicorn logs the query string
raw).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from botyard.api_keys import keyformat

REDACTED = "[redacted]"
_ENCODED = "%(?:25)*"
"""Percent-encoding, applied once or more: ``%62``, ``%2562`` … all end up as ``b``."""
_KEY_CHAR = rf"(?:[0-9A-Za-z]|{_ENCODED}(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]))"


def _spelled(char: str, any_case: bool = False) -> str:
    """A pattern for ``char`` as a URL may carry it: as itself or percent-encoded, so a key or
    a parameter name cannot slip past redaction by being encoded (``%62yk_…``)."""
    forms = sorted({char, char.swapcase()} if any_case else {char})
    alternatives = [re.escape(form) for form in forms]
    for form in forms:
        code = f"{ord(form):02X}"
        high, low = code[0], code[1]
        alternatives.append(_ENCODED + high + (f"[{low}{low.lower()}]" if low.isalpha() else low))
    return "(?:" + "|".join(alternatives) + ")"


def _spelled_word(word: str, any_case: bool = False) -> str:
    return "".join(_spelled(char, any_case) for char in word)


_PARAM_NAMES = "|".join(_spelled_word(name, any_case=True) for name in ("api_key", "key", "token"))
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(_spelled_word(keyformat.PREFIX) + _KEY_CHAR + "+"), REDACTED),
    (re.compile(rf"([?&](?:{_PARAM_NAMES})=)[^&\s\"#]*"), rf"\1{REDACTED}"),
    (re.compile(r"(/dashboard/(?:invitations|reset-password)/)[^/?#\s\"]+"), rf"\1{REDACTED}"),
)


_MARKERS = (keyformat.PREFIX, "=", "%", "/dashboard/invitations/", "/dashboard/reset-password/")


def redact(text: str) -> str:
    # Text holding none of the markers matches no pattern: the usual access-log line (every
    # request writes one) skips the three regexes.
    if not any(marker in text for marker in _MARKERS):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install() -> None:
    """Idempotent: every log record, whichever logger makes it, is redacted as it is made.

    A filter on the ``botyard`` logger would miss its children's records (Python applies a
    logger's filters only to records logged on it, not to those propagated from below), and
    the handlers belong to whoever configured logging (uvicorn), so the record factory is the
    one place every record passes through."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts_secrets", False):
        return
    redaction = RedactSecrets()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redaction.filter(record)
        return record

    make_record.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)
