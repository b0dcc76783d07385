"""Fixtures of the SDK's tests: a real ``botyard serve`` per backend for the integration tests.

The server is the same subprocess the suite's multi-process tests start (migrated on start),
on a temporary SQLite file and on a fresh PostgreSQL database (mandatory under CI=true), and
organizations and keys are made with the CLI, as an operator would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.backends import create_postgres_database, drop_postgres_database
from tests.cli.runner import Botyard as BotyardCLI
from tests.cli.runner import sqlite_botyard
from tests.test_multiprocess import Server, start_server

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp(f"sdk-{request.param}")
    if request.param == "sqlite":
        yield from start_server(sqlite_botyard(directory), directory)
        return
    url = asyncio.run(create_postgres_database())
    try:
        yield from start_server(BotyardCLI(url, directory), directory)
    finally:
        asyncio.run(drop_postgres_database(url))


@dataclass
class Org:
    """An organization of its own for one test, with an admin key."""

    server: Server
    id: str
    name: str
    admin_key: str

    def key(self, *scopes: str) -> str:
        args = ["keys", "create", "--org", self.id, "--name", f"SDK {uuid.uuid4().hex[:6]}"]
        for scope in scopes:
            args += ["--scope", scope]
        return self.server.cli.ok(*args).stdout.strip()

    def user(self, role: str) -> str:
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        self.server.cli.ok(
            "users", "create", email, "--org", self.id, "--role", role, input=PASSWORD + "\n"
        )
        return email


@pytest.fixture
def org(server: Server) -> Org:
    name = f"SDK Org {uuid.uuid4().hex[:8]}"
    org_id = server.cli.ok("orgs", "create", name, "--plan", "professional").stdout.strip()
    admin = Org(server, org_id, name, "")
    admin.admin_key = admin.key("admin")
    return admin
