"""`botyard serve --workers N` without Redis: each worker would count limits on its own (a
500 limit let 1000 requests through with two workers), so it refuses unless told otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.cli.runner import sqlite_botyard
from tests.test_multiprocess import free_port

pytestmark = pytest.mark.slow


def test_workers_without_redis_refuse_to_start(tmp_path: Path) -> None:
    result = sqlite_botyard(tmp_path).run("serve", "--workers", "2", "--port", str(free_port()))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--workers 2 without BOTYARD_REDIS_URL" in line
    assert "2 times too high" in line and "--allow-per-process-limits" in line
    assert not (tmp_path / "botyard.db").exists(), "it migrated before refusing"


def test_workers_without_redis_start_when_per_process_limits_are_allowed(tmp_path: Path) -> None:
    port = free_port()
    cli = sqlite_botyard(tmp_path)
    with (tmp_path / "serve.log").open("w") as log:
        process = cli.popen(
            "serve", "--workers", "2", "--allow-per-process-limits", "--port", str(port), log=log
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)
