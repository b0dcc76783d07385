"""A live ``botyard serve`` on a temporary SQLite file, and Debian's Chromium to drive it.

The server is a real subprocess (migrated on start, uvicorn honouring proxy headers), seeded
through the CLI against the same file, so the browser tests exercise what a user runs.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BOTYARD = Path(sys.executable).with_name("botyard")
STARTUP_SECONDS = 30
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    workdir: Path
    created: list[str] = field(default_factory=list)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BOTYARD), *args],
            env=self.env,
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"botyard {' '.join(args)} failed: {result.stderr}"
        return result

    def org(self, plan: str = "professional") -> str:
        name = f"Org {uuid.uuid4().hex[:8]}"
        self.cli("orgs", "create", name, "--plan", plan)
        return name

    def user(self, org: str, role: str) -> str:
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        self.cli("users", "create", email, "--org", org, "--role", role, stdin=PASSWORD + "\n")
        return email

    def key(self, org: str, name: str, *scopes: str) -> str:
        args = ["keys", "create", "--org", org, "--name", name]
        for scope in scopes or ("read",):
            args += ["--scope", scope]
        return self.cli(*args).stdout.strip()

    def demo(self) -> tuple[str, str]:
        """Seeds (or refreshes) the Acme demo; returns the owner's email and new password."""
        output = self.cli("demo").stderr
        email = re.search(r"email:\s+(\S+)", output)
        password = re.search(r"password:\s+(\S+)", output)
        assert email and password, output
        return email.group(1), password.group(1)

    def api(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BOTYARD_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'botyard.db'}",
        "BOTYARD_PUBLIC_URL": url,
        "BOTYARD_REQUEST_LOG_FLUSH_INTERVAL": "0.2",
    }
    env.pop("BOTYARD_REDIS_URL", None)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [str(BOTYARD), "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"botyard serve exited: {(workdir / 'server.log').read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("botyard serve did not answer /healthz in time")
            time.sleep(0.1)
        yield LiveServer(url=url, env=env, workdir=workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright (never Playwright's own download)."""
    if not CHROMIUM.exists():
        unavailable(f"Chromium at {CHROMIUM}", "not installed; apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched
