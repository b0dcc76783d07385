"""`botyard serve --workers N` without Redis: each worker would count limits on its own (a
500 limit let 1000 requests through with two workers), so it refuses unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.runner import Botyard, sqlite_botyard
from tests.test_multiprocess import free_port

pytestmark = pytest.mark.slow


def test_workers_without_redis_refuse_to_start(tmp_path: Path) -> None:
    result = sqlite_botyard(tmp_path).run("serve", "--workers", "2", "--port", str(free_port()))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--workers 2 without BOTYARD_REDIS_URL" in line
    assert "2 times too high" in line and "--allow-per-process-limits" in line
    assert not (tmp_path / "botyard.db").exists(), "it migrated before refusing"


def test_workers_without_redis_go_on_when_per_process_limits_are_allowed(tmp_path: Path) -> None:
    """Past the refusal, it goes on to migrate: here a database that cannot be opened, whose
    one-line exit shows the flag was accepted, without paying for three processes' start."""
    cli = Botyard(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/botyard.db", tmp_path)
    result = cli.run("serve", "--workers", "2", "--allow-per-process-limits", "--port", "1")
    assert result.returncode == 2, result.stderr
    assert "error: cannot reach the database" in result.stderr, result.stderr
    assert "without BOTYARD_REDIS_URL" not in result.stderr
