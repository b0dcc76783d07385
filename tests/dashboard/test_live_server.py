"""Cookie flags as a real deployment sets them: uvicorn behind a TLS-terminating proxy."""

from __future__ import annotations

import httpx
import pytest

from tests.dashboard.conftest import LiveServer


@pytest.mark.slow
def test_a_forwarded_proto_from_an_untrusted_peer_does_not_make_cookies_secure(
    live_server: LiveServer,
) -> None:
    """Without BOTYARD_TRUSTED_PROXIES no peer is a proxy, 127.0.0.1 included (17.8): a
    client's own X-Forwarded-Proto changes nothing. tests/dashboard/test_auth.py checks the
    Secure flag behind a trusted proxy."""
    forged = httpx.get(live_server.url + "/dashboard/login", headers={"X-Forwarded-Proto": "https"})
    header = forged.headers["set-cookie"].lower()
    assert "; secure" not in header and "httponly" in header and "samesite=lax" in header
