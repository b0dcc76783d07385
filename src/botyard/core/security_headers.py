"""Headers every response carries, whatever produced it.

``X-Content-Type-Options: nosniff`` stops a browser from running an answer as a type other
than the one declared; HSTS, sent only over HTTPS (directly, or behind a trusted proxy that
says so), keeps browsers on HTTPS for a year once they have seen it.
"""

from __future__ import annotations

NOSNIFF = (b"x-content-type-options", b"nosniff")
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
OVER_HTTP = (NOSNIFF,)
OVER_HTTPS = (NOSNIFF, HSTS)


def security_headers(scheme: str) -> tuple[tuple[bytes, bytes], ...]:
    """For a response on a connection of ``scheme`` (the ASGI scope's, after proxy headers)."""
    return OVER_HTTPS if scheme == "https" else OVER_HTTP
