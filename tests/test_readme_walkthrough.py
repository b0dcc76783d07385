"""The README's walkthrough, run as written (issue 16 item 4): its shell block creates a key
and calls the API with curl, and its JavaScript block, run with node from the same shell,
makes the same call. Only the address changes: the test's server listens on a free port."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import ON_CI
from tests.cli.runner import botyard_executable, sqlite_botyard
from tests.test_multiprocess import Server, start_server

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parent.parent / "README.md"
README_ADDRESS = "http://127.0.0.1:8000"


def setup_blocks(language: str) -> list[str]:
    """The fenced blocks of the README's "Set up" section in one language."""
    text = README.read_text()
    section = text[text.index("## Set up") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("readme")
    cli = sqlite_botyard(directory)
    cli.ok("db", "upgrade")
    cli.ok("demo")
    yield from start_server(cli, directory)


def as_written(block: str, server: Server) -> str:
    """The block with the README's address pointed at the test's server and its relative
    .venv/bin/botyard at the installed one."""
    return block.replace(README_ADDRESS, server.url).replace(
        ".venv/bin/botyard", botyard_executable()
    )


def test_the_shell_and_javascript_blocks_run_as_written(demo_server: Server) -> None:
    shell = [b for b in setup_blocks("sh") if "keys create" in b]
    (javascript,) = setup_blocks("js")
    assert len(shell) == 1, "the walkthrough's key-and-curl block is missing"
    assert "process.env.BOTYARD_API_KEY" in javascript
    if shutil.which("node") is None or shutil.which("curl") is None:
        if ON_CI:
            pytest.fail("node and curl are needed to run the README's walkthrough")
        pytest.skip("node or curl not installed: the README's walkthrough was not run")

    directory = demo_server.cli.cwd
    (directory / "call.mjs").write_text(as_written(javascript, demo_server))
    script = "set -euo pipefail\n" + as_written(shell[0], demo_server) + "\necho\nnode call.mjs\n"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=directory,
        env=demo_server.cli.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    curl_output, node_output = result.stdout.split("\n", 1)
    assert '"name":"Acme Support"' in curl_output, curl_output
    assert node_output.startswith("200 "), node_output
    assert "object: 'list'" in node_output, node_output
    assert "Bearer undefined" not in result.stdout + result.stderr
