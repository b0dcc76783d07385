"""``pip install ./sdk/python`` into a fresh venv: the SDK brings httpx and what httpx needs,
never the server's stack (FastAPI, SQLAlchemy, Pydantic…), and ships its type information."""

from __future__ import annotations

import json
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SDK = Path(__file__).resolve().parents[1]
SERVER_STACK = {
    "botyard",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic-settings",
    "uvicorn",
    "asyncpg",
    "aiosqlite",
    "redis",
    "typer",
}
BUILD_LEFTOVERS = ("build", "*.egg-info", "__pycache__", ".mypy_cache")
"""Not part of the source; the copy keeps the build from writing into the checkout."""
INSTALL_TIMEOUT = 300
PROBE = """
import importlib.metadata, importlib.resources, json, sys
import botyard_sdk
print(json.dumps({
    "requires": importlib.metadata.requires("botyard-sdk"),
    "version": botyard_sdk.__version__,
    "typed": importlib.resources.files("botyard_sdk").joinpath("py.typed").is_file(),
    "location": botyard_sdk.__file__,
    "loaded": sorted({name.split(".")[0] for name in sys.modules}),
}))
"""


def run(*args: str | Path) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_fresh_venv_gets_the_sdk_and_httpx_but_not_the_servers_stack(tmp_path: Path) -> None:
    source = tmp_path / "sdk"
    shutil.copytree(SDK, source, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", source)

    installed = {
        package["name"].lower().replace("_", "-")
        for package in json.loads(run(python, "-m", "pip", "list", "--format=json"))
    }
    assert {"botyard-sdk", "httpx"} <= installed
    assert installed & SERVER_STACK == set()

    probe = json.loads(run(python, "-c", PROBE))
    (requirement,) = probe["requires"]
    assert requirement.startswith("httpx") and "<" in requirement, "httpx alone, pinned"
    assert probe["typed"], "py.typed is installed, so users' type checkers read the SDK's types"
    assert probe["location"].startswith(str(environment)), "installed, not this checkout"
    assert not set(probe["loaded"]) & {"fastapi", "sqlalchemy", "pydantic", "botyard"}

    from botyard_sdk import __version__

    assert probe["version"] == __version__
