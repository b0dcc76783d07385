"""The Content-Security-Policy and framing headers of every HTML page, built in one place.

Pages start from :data:`STRICT` (same origin only, no inline script or style, no plugins, never
framed) and widen it only by the sources they need, with :meth:`ContentSecurityPolicy.allow`, so
each page's exceptions are written where the page is and reviewed as a difference from STRICT.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# A fetch directive that is absent falls back to another (CSP Level 3, section 6.8.3): widening
# an absent one must start from what the fallback allowed, or it would allow less than before.
FALLBACKS: Mapping[str, str] = MappingProxyType(
    {
        "script-src-elem": "script-src",
        "script-src-attr": "script-src",
        "style-src-elem": "style-src",
        "style-src-attr": "style-src",
        "worker-src": "script-src",
        "child-src": "script-src",
        "frame-src": "child-src",
    }
)
NOT_FETCH_DIRECTIVES = frozenset(
    {"base-uri", "form-action", "frame-ancestors", "sandbox", "report-uri", "report-to"}
)


@dataclass(frozen=True)
class ContentSecurityPolicy:
    """An immutable policy: directive name → its sources, in the order they are written."""

    directives: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def sources(self, directive: str) -> tuple[str, ...]:
        """What ``directive`` allows, following the fallback chain when it is not written."""
        while directive not in self.directives:
            if directive in NOT_FETCH_DIRECTIVES or directive == "default-src":
                return ()
            directive = FALLBACKS.get(directive, "default-src")
        return self.directives[directive]

    def allow(self, directive: str, *sources: str) -> ContentSecurityPolicy:
        """A copy that also allows ``sources`` for ``directive``."""
        current = list(self.sources(directive))
        if current == ["'none'"]:
            current = []
        added = [s for s in sources if s not in current]
        return ContentSecurityPolicy({**self.directives, directive: (*current, *added)})

    @property
    def header(self) -> str:
        return "; ".join(" ".join((name, *values)) for name, values in self.directives.items())


STRICT = ContentSecurityPolicy(
    {
        "default-src": ("'self'",),
        "img-src": ("'self'", "data:"),
        "style-src": ("'self'",),
        "script-src": ("'self'",),
        "object-src": ("'none'",),
        "base-uri": ("'none'",),
        "form-action": ("'self'",),
        "frame-ancestors": ("'none'",),
    }
)


def inline_source(text: str) -> str:
    """The CSP hash source that allows exactly this inline ``<style>`` or ``<script>`` text."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def html_headers(policy: ContentSecurityPolicy = STRICT) -> dict[str, str]:
    """Headers for an HTML page: its policy, and never inside a frame (old browsers too)."""
    return {
        "Content-Security-Policy": policy.header,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }
