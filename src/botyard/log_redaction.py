"""Secrets kept out of log lines that quote URLs (uvicorn's access log above all).

API keys refused in a URL, key-like query parameters and invitation tokens (which travel in the
accept link's path) are replaced with ``[redacted]`` before any handler formats the record.
"""

from __future__ import annotations

import logging
import re

from botyard.api_keys import keyformat

REDACTED = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"{keyformat.PREFIX}[0-9A-Za-z]+"), REDACTED),
    (re.compile(r"(?i)([?&](?:api_key|key|token)=)[^&\s\"#]*"), rf"\1{REDACTED}"),
    (re.compile(r"(/dashboard/invitations/)[^/?#\s\"]+"), rf"\1{REDACTED}"),
)
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "botyard")


_KEY_MARKER = keyformat.PREFIX
_PARAM_MARKER = "="
_INVITATION_MARKER = "/dashboard/invitations/"


def redact(text: str) -> str:
    # Text holding none of the markers matches no pattern: the usual access-log line (every
    # request writes one) skips the three regexes.
    if _KEY_MARKER not in text and _PARAM_MARKER not in text and _INVITATION_MARKER not in text:
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
    """Idempotent: attach the filter once to each logger that may quote a URL."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
