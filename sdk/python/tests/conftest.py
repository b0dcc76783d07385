"""Fixtures of the SDK's integration tests: a real ``botyard serve`` per backend.

The server is the same subprocess the suite's multi-process tests start (migrated on start),
on a temporary SQLite file and on a fresh PostgreSQL database (mandatory under CI=true).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.backends import create_postgres_database, drop_postgres_database
from tests.cli.runner import Botyard as BotyardCLI
from tests.cli.runner import sqlite_botyard
from tests.test_multiprocess import Server, start_server

from live_support import Org, new_org


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


@pytest.fixture(scope="module")
def org(server: Server) -> Org:
    """One organization per test module and backend (the CLI takes seconds per call); each
    test makes the objects it reads, so tests of a module do not depend on one another."""
    return new_org(server)


@pytest.fixture
def fresh_org(server: Server) -> Org:
    """An organization for one test alone, for what changes the organization itself."""
    return new_org(server)
