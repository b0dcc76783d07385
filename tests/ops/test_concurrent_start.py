"""Any number of `botyard serve` processes may start at once on a fresh database.

Before the migration lock, two of three processes crashed on a fresh PostgreSQL in 12 of 13
trials (a unique violation on ``alembic_version``) and one in three on SQLite ("table ...
already exists"). Each round here starts three servers at the same moment on a new database
and requires all three to serve. They are forked by ``serve_launcher`` after Botyard is
imported once, which puts the three migrations within milliseconds of each other and keeps
ten rounds affordable on CI (exec'd, they cost ~100 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import create_postgres_database, drop_postgres_database
from tests.cli.runner import Botyard, sqlite_botyard
from tests.test_multiprocess import free_port

pytestmark = pytest.mark.slow

ROUNDS = 5
PROCESSES = 3
STARTUP_DEADLINE = 60.0


class Launcher:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.ops.serve_launcher"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )

    def ask(self, command: dict[str, object]) -> dict[str, object]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer: dict[str, object] = json.loads(self.process.stdout.readline())
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    started = Launcher()
    yield started
    started.close()


def assert_all_serve(launcher: Launcher, cli: Botyard, directory: Path) -> None:
    ports = [free_port() for _ in range(PROCESSES)]
    logs = [directory / f"serve-{i}.log" for i in range(PROCESSES)]
    specs = [
        {"cwd": str(cli.cwd), "env": cli.env, "port": port, "log": str(log)}
        for port, log in zip(ports, logs, strict=True)
    ]
    pids = launcher.ask({"start": specs})["pids"]
    assert isinstance(pids, list)
    try:
        waiting = set(range(PROCESSES))
        deadline = time.monotonic() + STARTUP_DEADLINE
        while waiting:
            for i in sorted(waiting):
                code = launcher.ask({"poll": pids[i]})["exit"]
                if code is not None:
                    pytest.fail(f"server {i} exited with {code}:\n{logs[i].read_text()}")
                try:
                    url = f"http://127.0.0.1:{ports[i]}/healthz"
                    if httpx.get(url, timeout=5).status_code == 200:
                        waiting.discard(i)
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"server {i} not serving in {STARTUP_DEADLINE}s:\n{logs[i].read_text()}"
                    )
            time.sleep(0.05)
    finally:
        launcher.ask({"stop": pids})


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_three_servers_start_at_once_on_a_fresh_sqlite_file(
    round_number: int, launcher: Launcher, tmp_path: Path
) -> None:
    assert_all_serve(launcher, sqlite_botyard(tmp_path), tmp_path)


@pytest.mark.parametrize("round_number", range(ROUNDS))
async def test_three_servers_start_at_once_on_a_fresh_postgresql_database(
    round_number: int, launcher: Launcher, tmp_path: Path
) -> None:
    url = await create_postgres_database()
    try:
        assert_all_serve(launcher, Botyard(url, tmp_path), tmp_path)
    finally:
        await drop_postgres_database(url)
