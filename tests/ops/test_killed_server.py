"""`botyard serve` on SQLite killed (SIGKILL) while clients send chat messages.

A message is acknowledged (201) only once its exchange committed, and an exchange is one
transaction on the app's own connection: after the kill every acknowledged message and
reply is in the database, no message is there without its reply, the conversations' counts
and the analytics counters agree with the messages, the file passes SQLite's integrity
check, and the server starts again on it and goes on chatting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.cli.runner import sqlite_botyard
from tests.test_multiprocess import start_server

pytestmark = pytest.mark.slow

serving = contextlib.contextmanager(start_server)

CLIENTS = 16
CONVERSATIONS = 8
LOAD_SECONDS = 2.5
"""Long enough for a few hundred commits, so WAL checkpoints run (every 100) before the kill."""


async def _chat_until_killed(
    url: str, key: str, conversations: list[str], process: subprocess.Popen[str]
) -> set[str]:
    """The ids of every message and reply acknowledged before the server died."""
    acknowledged: set[str] = set()
    headers = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()

    async def client_loop(client: httpx.AsyncClient, number: int) -> None:
        sent = 0
        while True:
            conversation = conversations[(number + sent) % len(conversations)]
            sent += 1
            try:
                response = await client.post(
                    f"/v1/conversations/{conversation}/messages",
                    json={"text": f"message {sent} from client {number}"},
                    headers=headers,
                )
            except httpx.TransportError:
                return  # the server is gone
            assert response.status_code == 201, response.text
            exchange = response.json()
            acknowledged.update((exchange["message"]["id"], exchange["reply"]["id"]))

    async def kill_soon() -> None:
        await asyncio.sleep(LOAD_SECONDS)
        os.kill(process.pid, signal.SIGKILL)

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.gather(kill_soon(), *(client_loop(client, n) for n in range(CLIENTS)))
    assert process.wait(timeout=10) == -signal.SIGKILL
    assert time.monotonic() - started >= LOAD_SECONDS
    return acknowledged


def test_a_killed_server_loses_no_acknowledged_message_and_starts_again(
    tmp_path: Path,
) -> None:
    cli = sqlite_botyard(tmp_path)
    cli.ok("db", "upgrade")
    org = cli.ok("orgs", "create", "Killed", "--plan", "professional").stdout.strip()
    cli.ok("orgs", "set-rate-limit", org, "1000000")
    key = cli.ok("keys", "create", "--org", org, "--name", "load", "--scope", "admin").stdout
    key = key.strip()
    headers = {"Authorization": f"Bearer {key}"}
    with serving(cli, tmp_path) as server:
        url = server.url
        bot = httpx.post(url + "/v1/bots", json={"name": "Load"}, headers=headers).json()
        conversations = [
            httpx.post(f"{url}/v1/bots/{bot['id']}/conversations", headers=headers).json()["id"]
            for _ in range(CONVERSATIONS)
        ]
        acknowledged = asyncio.run(_chat_until_killed(url, key, conversations, server.process))
    assert len(acknowledged) > 200

    database = tmp_path / "botyard.db"
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in connection.execute("SELECT id FROM messages")}
        assert acknowledged <= stored, "an acknowledged message was lost"
        for conversation in conversations:
            (count,) = connection.execute(
                "SELECT message_count FROM conversations WHERE id = ?", (conversation,)
            ).fetchone()
            roles = [
                role
                for (role,) in connection.execute(
                    "SELECT role FROM messages WHERE conversation_id = ? ORDER BY created_at",
                    (conversation,),
                )
            ]
            assert count == len(roles)
            assert roles == ["bot"] + ["user", "bot"] * ((len(roles) - 1) // 2), "half an exchange"
        (counted,) = connection.execute(
            "SELECT sum(user_messages + bot_messages) FROM analytics_message_hours"
            " WHERE bot_id = ?",
            (bot["id"],),
        ).fetchone()
        (messages,) = connection.execute(
            "SELECT count(*) FROM messages WHERE bot_id = ?", (bot["id"],)
        ).fetchone()
        assert counted == messages

    with serving(cli, tmp_path) as server:
        again = httpx.post(
            f"{server.url}/v1/conversations/{conversations[0]}/messages",
            json={"text": "still there?"},
            headers=headers,
        )
        assert again.status_code == 201, again.text
