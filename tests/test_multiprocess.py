"""Two processes: a running `botyard serve` and the CLI changing keys and plans under it.

The contract promises that a key revoked elsewhere (here: by the CLI) is refused by a running
server within 1 second, and that a plan change reaches it as fast. These tests poll the real
server every ~50 ms after the CLI process exits. The 1-second figure is the contract's
deadline, not a performance target: a failure here means a running server kept honouring a
revoked key (or an old plan) for longer than the product promises.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends import create_postgres_database, drop_postgres_database
from tests.cli.runner import Botyard, sqlite_botyard

pytestmark = pytest.mark.slow

CONTRACT_DEADLINE = 1.0
POLL_EVERY = 0.05
GIVE_UP_AFTER = 15.0
STARTUP_DEADLINE = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    cli: Botyard
    url: str
    process: subprocess.Popen[str]
    log: Path

    def get(self, path: str, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.url + path, headers=headers, timeout=10)


def start_server(cli: Botyard, directory: Path) -> Iterator[Server]:
    port = free_port()
    log_path = directory / "serve.log"
    with log_path.open("w") as log:
        process = cli.popen("serve", "--host", "127.0.0.1", "--port", str(port), log=log)
        server = Server(cli, f"http://127.0.0.1:{port}", process, log_path)
        try:
            deadline = time.monotonic() + STARTUP_DEADLINE
            while True:
                if process.poll() is not None:
                    pytest.fail(f"botyard serve exited early:\n{log_path.read_text()}")
                try:
                    if server.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"botyard serve not up after {STARTUP_DEADLINE}s:\n{log_path.read_text()}"
                    )
                time.sleep(0.1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The README's path: migrate, seed the demo, then serve (on a temporary SQLite file)."""
    directory = tmp_path_factory.mktemp("serve-sqlite")
    cli = sqlite_botyard(directory)
    cli.ok("db", "upgrade")
    cli.ok("demo")
    yield from start_server(cli, directory)


@pytest.fixture(scope="module")
async def postgres_url() -> AsyncIterator[str]:
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture(scope="module")
def postgres_server(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("serve-postgres")
    yield from start_server(Botyard(postgres_url, directory), directory)


def new_org_with_key(server: Server, name: str) -> tuple[str, str, str]:
    """(org id, key id, key) made with the CLI, as an operator would."""
    org_id = server.cli.ok("orgs", "create", name, "--plan", "professional").stdout.strip()
    key = server.cli.ok(
        "keys", "create", "--org", org_id, "--name", "Backend", "--scope", "read"
    ).stdout.strip()
    (row,) = json.loads(server.cli.ok("keys", "list", "--org", org_id, "--json").stdout)
    return org_id, row["id"], key


def code_of(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    return str(response.json()["error"]["code"])


def assert_reaches_server_within_deadline(
    server: Server,
    key: str,
    cli_args: list[str],
    arrived: Callable[[httpx.Response], bool],
    what: str,
) -> None:
    """Run the CLI command, then poll until ``arrived``; no request sent more than
    CONTRACT_DEADLINE after the CLI exited may still get the old answer.

    The key is used all the while the command runs, so the server holds a freshly cached
    copy when the change commits: the worst case for how long it may go unnoticed."""
    command = server.cli.start(*cli_args)
    while command.poll() is None:
        server.get("/v1/bots", key)
        time.sleep(POLL_EVERY)
    exited = time.monotonic()
    _, stderr = command.communicate()
    assert command.returncode == 0, f"botyard {' '.join(cli_args)}: {stderr}"
    late_old_answers: list[float] = []
    while True:
        sent = time.monotonic() - exited
        response = server.get("/v1/bots", key)
        if arrived(response):
            break
        if sent > CONTRACT_DEADLINE:
            late_old_answers.append(sent)
        if sent > GIVE_UP_AFTER:
            pytest.fail(
                f"the running server never saw `botyard {' '.join(cli_args)}`: {what} still "
                f"not in effect {GIVE_UP_AFTER}s after the command exited "
                f"(last answer {response.status_code} {response.text[:200]})"
            )
        time.sleep(POLL_EVERY)
    assert not late_old_answers, (
        f"contract deadline missed: after `botyard {' '.join(cli_args)}` exited, the running "
        f"server still answered as before to requests sent {late_old_answers[0]:.2f}s to "
        f"{late_old_answers[-1]:.2f}s later; the contract says {what} within "
        f"{CONTRACT_DEADLINE:.0f} second"
    )


def check_cli_revocation_reaches_server(server: Server, org_name: str) -> None:
    _, key_id, key = new_org_with_key(server, org_name)
    assert server.get("/v1/bots", key).status_code == 200
    assert_reaches_server_within_deadline(
        server,
        key,
        ["keys", "revoke", key_id],
        lambda r: (r.status_code, code_of(r)) == (401, "api_key_revoked"),
        "a revoked key is refused (401 api_key_revoked)",
    )
    time.sleep(0.6)  # past any cache lifetime: the refusal must be final, not a blip
    assert code_of(server.get("/v1/bots", key)) == "api_key_revoked"


def test_readme_path_demo_key_and_curl(sqlite_server: Server) -> None:
    created = sqlite_server.cli.ok(
        "keys", "create", "--org", "Acme", "--name", "Website Integration", "--scope", "read"
    )
    key = created.stdout.strip()
    assert created.stdout.count("\n") == 1 and key.startswith("byk_")
    response = sqlite_server.get("/v1/bots", key)
    assert response.status_code == 200, response.text
    assert "Acme Support" in [bot["name"] for bot in response.json()["data"]]


def test_cli_revocation_reaches_the_running_server(sqlite_server: Server) -> None:
    check_cli_revocation_reaches_server(sqlite_server, "Revocation Co")


def test_cli_plan_changes_reach_the_running_server(sqlite_server: Server) -> None:
    org_id, _, key = new_org_with_key(sqlite_server, "Downgrade Co")
    assert sqlite_server.get("/v1/bots", key).status_code == 200
    assert_reaches_server_within_deadline(
        sqlite_server,
        key,
        ["orgs", "set-plan", org_id, "starter"],
        lambda r: (r.status_code, code_of(r)) == (403, "plan_required"),
        "a key of an organization without API access is refused (403 plan_required)",
    )
    assert_reaches_server_within_deadline(
        sqlite_server,
        key,
        ["orgs", "set-plan", org_id, "professional"],
        lambda r: r.status_code == 200,
        "the same key works again once the plan allows it",
    )


def test_cli_revocation_reaches_a_server_on_postgresql(postgres_server: Server) -> None:
    check_cli_revocation_reaches_server(postgres_server, "Revocation PG")
