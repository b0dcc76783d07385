"""The one CSP builder: pages widen the strict policy by exactly what they name."""

import base64
import hashlib

from botyard.core.csp import STRICT, ContentSecurityPolicy, html_headers, inline_source


def test_strict_allows_only_this_origin_and_no_framing() -> None:
    assert STRICT.header == (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    headers = html_headers()
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == STRICT.header


def test_allow_adds_to_a_copy_and_keeps_the_original() -> None:
    wider = STRICT.allow("style-src", "'unsafe-inline'")
    assert wider.directives["style-src"] == ("'self'", "'unsafe-inline'")
    assert STRICT.directives["style-src"] == ("'self'",)
    assert wider.allow("style-src", "'unsafe-inline'") == wider  # no duplicates


def test_an_absent_directive_starts_from_what_its_fallback_allowed() -> None:
    """worker-src falls back to script-src: widening it must keep 'self', not replace it."""
    policy = ContentSecurityPolicy({"default-src": ("'none'",), "script-src": ("'self'",)})
    assert policy.allow("worker-src", "blob:").directives["worker-src"] == ("'self'", "blob:")
    assert policy.allow("connect-src", "'self'").directives["connect-src"] == ("'self'",)
    assert STRICT.allow("frame-ancestors", "'self'").directives["frame-ancestors"] == ("'self'",)


def test_inline_source_is_the_sha256_a_browser_computes() -> None:
    text = "body{color:red}"
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    assert inline_source(text) == f"'sha256-{digest}'"
