"""Webhooks across real `botyard serve` processes: two servers on one PostgreSQL deliver each
of 200 events exactly once; a server killed (SIGKILL) after the commit still delivers once it
is back; and a key reported as leaked to one server is refused by the other within 1 second."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from botyard_sdk import webhooks as sdk_webhooks
from tests.backends import create_postgres_database, drop_postgres_database
from tests.cli.runner import Botyard, sqlite_botyard
from tests.test_multiprocess import CONTRACT_DEADLINE, POLL_EVERY, Server, start_server
from tests.webhooks.receiver import Answer, Receiver, running_receiver

pytestmark = pytest.mark.slow

EVENTS = 200
SECRET_KEY = "serve-test-master-key-shared-by-every-server-0123456789"


@dataclass
class ServeCli(Botyard):
    """The CLI with the settings every server of a test shares (one master key, so each can
    open the secrets another sealed; private URLs, so the local receiver is allowed)."""

    extra: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **super().env,
            "BOTYARD_SECRET_KEY": SECRET_KEY,
            "BOTYARD_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "BOTYARD_REQUEST_LOG_FLUSH_INTERVAL": "0.2",
            **self.extra,
        }


@contextmanager
def serving(database_url: str, directory: Path, **extra: str) -> Iterator[Server]:
    directory.mkdir(parents=True, exist_ok=True)
    cli = ServeCli(database_url, directory, extra)
    yield from start_server(cli, directory)


def admin_key(server: Server, org_name: str) -> str:
    org_id = server.cli.ok("orgs", "create", org_name, "--plan", "enterprise").stdout.strip()
    server.cli.ok("orgs", "set-rate-limit", org_id, "100000")
    return server.cli.ok(
        "keys", "create", "--org", org_id, "--name", "Ops", "--scope", "admin"
    ).stdout.strip()


def call(server: Server, method: str, path: str, key: str, body: object = None) -> httpx.Response:
    response = httpx.request(
        method,
        server.url + path,
        headers={"Authorization": f"Bearer {key}"},
        json=body,
        timeout=30,
    )
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response


def subscribe(server: Server, key: str, receiver: Receiver) -> tuple[str, str]:
    created = call(
        server,
        "POST",
        "/v1/webhooks",
        key,
        {"url": receiver.url, "events": ["conversation.created"]},
    ).json()
    return created["id"], created["secret"]


def new_bot(server: Server, key: str) -> str:
    return str(call(server, "POST", "/v1/bots", key, {"name": "Support"}).json()["id"])


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


def test_two_servers_deliver_each_event_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        receiver = stack.enter_context(running_receiver())
        first = stack.enter_context(serving(postgres_url, tmp_path / "a"))
        second = stack.enter_context(serving(postgres_url, tmp_path / "b"))
        key = admin_key(first, "Exactly Once Co")
        _, secret = subscribe(first, key, receiver)
        bot_id = new_bot(first, key)
        conversations = set()
        for number in range(EVENTS):
            server = (first, second)[number % 2]
            started = call(server, "POST", f"/v1/bots/{bot_id}/conversations", key)
            conversations.add(started.json()["id"])
        receiver.wait_for(EVENTS, timeout=60)
        time.sleep(3)  # long enough for a duplicate from either server to arrive
        received = list(receiver.received)
    ids = [r.headers["webhook-id"] for r in received]
    assert len(ids) == EVENTS and len(set(ids)) == EVENTS, (
        f"{len(ids)} arrivals for {len(set(ids))} distinct events"
    )
    delivered = {sdk_webhooks.verify(r.body, r.headers, secret)["data"]["id"] for r in received}
    assert delivered == conversations


def test_a_server_killed_after_the_commit_delivers_after_restart(tmp_path: Path) -> None:
    database_url = sqlite_botyard(tmp_path).database_url
    with running_receiver() as receiver:
        # The worker is off, so the event is committed and certainly not yet sent.
        with serving(database_url, tmp_path / "a", BOTYARD_WEBHOOK_WORKER="false") as server:
            key = admin_key(server, "Crash Co")
            _, secret = subscribe(server, key, receiver)
            bot_id = new_bot(server, key)
            started = call(server, "POST", f"/v1/bots/{bot_id}/conversations", key).json()
            server.process.kill()
            server.process.wait()
        assert receiver.received == []

        with serving(database_url, tmp_path / "b") as server:
            (arrived,) = receiver.wait_for(1, timeout=20)
            event = sdk_webhooks.verify(arrived.body, arrived.headers, secret)
            assert event["data"]["id"] == started["id"]

            # Killed in the middle of an attempt: the lease runs out and the restarted server
            # sends it again, with the same webhook-id.
            receiver.answer_with(Answer(200, b"too late", delay=30))
            call(server, "POST", f"/v1/bots/{bot_id}/conversations", key)
            interrupted = receiver.wait_for(2, timeout=20)[1]
            server.process.kill()
            server.process.wait()

        with serving(database_url, tmp_path / "c"):
            again = receiver.wait_for(3, timeout=40)[2]
    assert again.headers["webhook-id"] == interrupted.headers["webhook-id"]
    assert again.body == interrupted.body


def test_a_leaked_key_is_refused_by_every_server_within_a_second(
    postgres_url: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(serving(postgres_url, tmp_path / "a"))
        second = stack.enter_context(serving(postgres_url, tmp_path / "b"))
        org_id = first.cli.ok("orgs", "create", "Leaky Co", "--plan", "professional")
        leaked = first.cli.ok(
            "keys", "create", "--org", org_id.stdout.strip(), "--name", "Gist", "--scope", "read"
        ).stdout.strip()
        assert second.get("/v1/bots", leaked).status_code == 200  # cached by the other server
        reported = httpx.post(
            first.url + "/v1/credentials/revoke", json={"credentials": [leaked]}, timeout=10
        )
        assert reported.status_code == 202
        reported_at = time.monotonic()
        assert first.get("/v1/bots", leaked).status_code == 401
        while second.get("/v1/bots", leaked).status_code == 200:
            assert time.monotonic() - reported_at < CONTRACT_DEADLINE, (
                "the other server still accepted the leaked key a second after the report"
            )
            time.sleep(POLL_EVERY)
        response = second.get("/v1/bots", leaked)
        assert json.loads(response.text)["error"]["code"] == "api_key_revoked"
