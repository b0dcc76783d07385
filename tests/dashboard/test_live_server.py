"""Cookie flags as a real deployment sets them: uvicorn behind a TLS-terminating proxy."""

from __future__ import annotations

import httpx
import pytest

from tests.dashboard.conftest import LiveServer


@pytest.mark.slow
def test_cookie_is_secure_behind_an_https_proxy(live_server: LiveServer) -> None:
    """uvicorn trusts X-Forwarded-Proto from 127.0.0.1, so the app sees https and says Secure."""
    response = httpx.get(
        live_server.url + "/dashboard/login", headers={"X-Forwarded-Proto": "https"}
    )
    header = response.headers["set-cookie"].lower()
    assert "; secure" in header and "httponly" in header and "samesite=lax" in header
    plain = httpx.get(live_server.url + "/dashboard/login")
    assert "; secure" not in plain.headers["set-cookie"].lower()
