"""Running the real `botyard` console script as a subprocess, on a database of the test's own."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BIN = Path(sys.executable).parent / "botyard"
TIMEOUT = 60


def botyard_executable() -> str:
    if BIN.exists():
        return str(BIN)
    found = shutil.which("botyard")
    assert found, "the botyard console script is not installed (pip install -e .)"
    return found


@dataclass
class Botyard:
    """The CLI bound to one database, run from a directory with no stray .env file."""

    database_url: str
    cwd: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTYARD_")}
        env["BOTYARD_DATABASE_URL"] = self.database_url
        return env

    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [botyard_executable(), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.cwd,
            timeout=TIMEOUT,
            check=False,
        )

    def ok(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, input=input, env=env)
        assert result.returncode == 0, f"botyard {' '.join(args)}: {result.stderr}"
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        """A short command run in the background (its output is small enough for pipes)."""
        return subprocess.Popen(
            [botyard_executable(), *args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def popen(self, *args: str, log: IO[str]) -> subprocess.Popen[str]:
        """A long-running command (``serve``) whose output goes to ``log``, never a full pipe."""
        return subprocess.Popen(
            [botyard_executable(), *args],
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def sqlite_botyard(directory: Path) -> Botyard:
    return Botyard(f"sqlite+aiosqlite:///{directory / 'botyard.db'}", directory)


def sqlite_rows(botyard: Botyard, query: str, *params: Any) -> list[sqlite3.Row]:
    """Read the CLI's SQLite database directly, independently of the app's code."""
    path = botyard.database_url.removeprefix("sqlite+aiosqlite:///")
    with closing(sqlite3.connect(path)) as connection:
        connection.row_factory = sqlite3.Row
        return list(connection.execute(query, params))


def lines(text: str) -> Iterator[str]:
    return (line for line in text.splitlines() if line.strip())
