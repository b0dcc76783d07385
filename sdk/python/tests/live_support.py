"""The live server's side of the SDK's integration tests: organizations made with the CLI, and
SDK clients on the server whose retries record their waits instead of waiting."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.test_multiprocess import Server

from botyard_sdk import AsyncBotyard, Botyard
from sdk_support import Sleeps

PASSWORD = "correct horse battery"
TIMEOUT = 30.0


@dataclass
class Exchanges:
    """The (method, path, status) of every answer a client received, in order."""

    seen: list[tuple[str, str, int]] = field(default_factory=list)

    def sync(self, response: httpx.Response) -> None:
        self.seen.append((response.request.method, response.request.url.path, response.status_code))

    async def asynchronous(self, response: httpx.Response) -> None:
        self.sync(response)


@dataclass
class Org:
    """An organization of its own on the live server, with an admin key."""

    server: Server
    id: str
    name: str
    admin_key: str = ""

    def key(self, *scopes: str) -> str:
        """A new key made with the CLI (stdout holds the key alone)."""
        args = ["keys", "create", "--org", self.id, "--name", f"SDK {uuid.uuid4().hex[:6]}"]
        for scope in scopes:
            args += ["--scope", scope]
        return self.server.cli.ok(*args).stdout.strip()

    def user(self, role: str) -> tuple[str, str]:
        """A new user of this organization: (id, email)."""
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        result = self.server.cli.ok(
            "users", "create", email, "--org", self.id, "--role", role, input=PASSWORD + "\n"
        )
        return result.stdout.strip(), email

    @contextmanager
    def client(
        self,
        api_key: str | None = None,
        *,
        exchanges: Exchanges | None = None,
        sleeps: Sleeps | None = None,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> Iterator[Botyard]:
        """A blocking client on the live server; a retry records its wait instead of waiting."""
        hooks = {"response": [exchanges.sync]} if exchanges is not None else {}
        with httpx.Client(timeout=TIMEOUT, event_hooks=hooks, transport=transport) as http:
            yield Botyard(
                api_key or self.admin_key,
                self.server.url,
                http_client=http,
                sleep=(sleeps if sleeps is not None else Sleeps()).sync,
                **options,
            )

    @asynccontextmanager
    async def async_client(
        self, api_key: str | None = None, **options: Any
    ) -> AsyncIterator[AsyncBotyard]:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            yield AsyncBotyard(
                api_key or self.admin_key,
                self.server.url,
                http_client=http,
                sleep=Sleeps().asynchronous,
                **options,
            )


def new_org(server: Server) -> Org:
    name = f"SDK Org {uuid.uuid4().hex[:8]}"
    org_id = server.cli.ok("orgs", "create", name, "--plan", "professional").stdout.strip()
    org = Org(server, org_id, name)
    org.admin_key = org.key("admin")
    return org
