"""Helpers the security regression tests share: apps with their own settings, clients from an
address of the test's choosing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

from botyard.main import create_app
from tests.cli.runner import Botyard, sqlite_botyard
from tests.conftest import make_settings
from tests.test_multiprocess import Server, start_server


@asynccontextmanager
async def app_with(database_url: str, **settings: object) -> AsyncIterator[FastAPI]:
    """An app of its own, for a test that needs settings the shared one does not have."""
    application = create_app(make_settings(database_url, **settings))
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def client_from(
    app: FastAPI, ip: str, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP peer address is ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 41000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
        yield c


@dataclass
class ConfiguredBotyard(Botyard):
    """The CLI with extra ``BOTYARD_*`` settings in its environment."""

    settings: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.settings}


def serve_sqlite(directory: Path, **settings: str) -> Iterator[Server]:
    """A real ``botyard serve`` on a fresh SQLite file, with ``BOTYARD_<NAME>`` settings."""
    cli = ConfiguredBotyard(
        sqlite_botyard(directory).database_url,
        directory,
        {f"BOTYARD_{name.upper()}": value for name, value in settings.items()},
    )
    cli.ok("db", "upgrade")
    yield from start_server(cli, directory)
