"""The docs pages are tested against the same live server and Chromium as the dashboard."""

from tests.dashboard.conftest import browser, live_server

__all__ = ["browser", "live_server"]
