"""Webhook delivery: events per second to a local receiver, and what a subscription adds to a
message round trip.

Run: .venv/bin/python bench/webhooks.py [events] [messages_per_round] [rounds] [database_url]

- Throughput: ``events`` events are queued through the outbox (``events.emit``, 100 per
  transaction), then one delivery worker sends them to a local HTTP receiver (uvicorn, in a
  process of its own, answering 204) and records every attempt. The figure is events
  delivered and recorded per second of the worker's time.
- Round trip: ``POST /v1/conversations/{id}/messages`` through the whole ASGI app (the bot
  ranks its knowledge and replies), for an organization without webhooks and for one whose
  endpoint subscribes to every event (each message then writes two or three events and their
  deliveries in its transaction). Rounds alternate between the two; the best round of each is
  compared, since other processes can only add time. The worker is stopped meanwhile: its
  sending happens off the request path, and this measures what the request itself pays.

By default a fresh SQLite file in a temporary directory; pass a PostgreSQL URL to use that.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from botyard.api_keys import service as keys
from botyard.audit.service import CLI_ACTOR
from botyard.bots.models import Bot, KnowledgeEntry
from botyard.core.config import Settings
from botyard.core.database import create_engine
from botyard.core.migrate import upgrade_async
from botyard.core.secretbox import app_secret_box
from botyard.main import create_app
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization, Plan
from botyard.webhooks import events, service
from botyard.webhooks.models import WebhookDelivery
from botyard.webhooks.worker import DeliveryWorker

QUESTIONS = [
    ("What are your opening hours?", "We are open 9 to 5, Monday to Friday."),
    ("How do I reset my password?", "Use the 'Forgot password' link on the login page."),
    ("Do you ship abroad?", "Yes, to 40 countries; shipping takes 5 to 10 days."),
    ("Can I get a refund?", "Refunds are possible within 30 days of purchase."),
]


RECEIVER = """
import sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")
"""


class Receiver:
    """A local receiver answering 204 to every POST, in a process of its own (so it does not
    share this one's interpreter lock with the worker it measures)."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(self.port)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.post(f"http://127.0.0.1:{self.port}/", content=b"{}", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        sys.exit("the receiver did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


async def new_org(app: Any, name: str) -> tuple[Organization, str]:
    async with app.state.sessionmaker() as session:
        org = await orgs.create(session, name, Plan.ENTERPRISE)
        org.rate_limit = 1_000_000_000
        _, plaintext = await keys.create_key(
            session, org, name="bench", scopes=["write"], actor=CLI_ACTOR
        )
        await session.commit()
        return org, plaintext


async def subscribe(app: Any, org: Organization, url: str) -> None:
    async with app.state.sessionmaker() as session:
        await service.create_endpoint(
            session,
            app_secret_box(app.state),
            org.id,
            url=url,
            events_wanted=["*"],
            description="bench",
            enabled=True,
            actor=CLI_ACTOR,
            allow_private=True,
        )
        await session.commit()


async def throughput(app: Any, receiver: Receiver, count: int) -> tuple[float, float]:
    """Events per second of wall time, and per second of this process's CPU time."""
    org, _ = await new_org(app, "Throughput")
    await subscribe(app, org, f"http://127.0.0.1:{receiver.port}/hook")
    data = {"object": "message", "id": "msg_bench", "text": "Hello " * 20}
    for start in range(0, count, 100):
        async with app.state.sessionmaker() as session:
            for _ in range(min(100, count - start)):
                await events.emit(session, org.id, "message.created", data)
            await session.commit()
    worker = DeliveryWorker(
        app.state.sessionmaker, lambda: app_secret_box(app.state), allow_private=True
    )
    started, cpu = time.perf_counter(), time.process_time()
    sent = 0
    while sent < count:
        done = await worker.run_once()
        if not done:
            break
        sent += done
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    await worker.close()
    async with app.state.sessionmaker() as session:
        succeeded = await session.scalar(
            select(func.count()).where(
                WebhookDelivery.organization_id == org.id, WebhookDelivery.status == "succeeded"
            )
        )
    if succeeded != count:
        sys.exit(f"{succeeded} of {count} deliveries succeeded")
    return count / elapsed, count / cpu_used


async def conversation_for(app: Any, client: httpx.AsyncClient, org: Organization, key: str) -> str:
    async with app.state.sessionmaker() as session:
        bot = Bot(organization_id=org.id, name="Support", fallback_message="Let me ask.")
        session.add(bot)
        await session.flush()
        session.add_all(
            KnowledgeEntry(organization_id=org.id, bot_id=bot.id, question=q, answer=a)
            for q, a in QUESTIONS
        )
        await session.commit()
    started = await client.post(
        f"/v1/bots/{bot.id}/conversations", headers={"Authorization": f"Bearer {key}"}
    )
    return str(started.json()["id"])


async def round_trip_ms(
    client: httpx.AsyncClient, conversation_id: str, key: str, messages: int
) -> tuple[float, float]:
    """Wall and CPU milliseconds per message (CPU of this process, every thread: steadier
    than wall time on a busy machine, where waiting for a core counts as time)."""
    headers = {"Authorization": f"Bearer {key}"}
    texts = ["When are you open?", "Do you ship to Canada?", "What is the meaning of life?"]
    started, cpu = time.perf_counter(), time.process_time()
    for number in range(messages):
        response = await client.post(
            f"/v1/conversations/{conversation_id}/messages",
            headers=headers,
            json={"text": texts[number % len(texts)]},
        )
        if response.status_code != 201:
            sys.exit(f"message answered {response.status_code}: {response.text}")
    wall = (time.perf_counter() - started) / messages * 1000
    return wall, (time.process_time() - cpu) / messages * 1000


async def main(count: int, messages: int, rounds: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = database_url or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        engine = create_engine(url)
        async with engine.begin() as connection:
            await upgrade_async(connection, url)
        await engine.dispose()
        settings = Settings(
            database_url=url,
            secret_key=secrets.token_urlsafe(48),
            webhook_worker=False,
            webhook_allow_private_urls=True,
            request_log_flush_interval=1.0,
        )
        app = create_app(settings)
        receiver = Receiver()
        receiver.start()
        try:
            async with app.router.lifespan_context(app):
                rate, cpu_rate = await throughput(app, receiver, count)
                print(f"delivery worker: {rate:,.0f} events/s to a local receiver ({count} events)")
                print(f"delivery worker: {cpu_rate:,.0f} events per CPU second of this process")

                plain_org, plain_key = await new_org(app, "No webhooks")
                hooked_org, hooked_key = await new_org(app, "Every event")
                await subscribe(app, hooked_org, f"http://127.0.0.1:{receiver.port}/hook")
                transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench"
                ) as client:
                    plain = await conversation_for(app, client, plain_org, plain_key)
                    hooked = await conversation_for(app, client, hooked_org, hooked_key)
                    await round_trip_ms(client, plain, plain_key, 20)
                    await round_trip_ms(client, hooked, hooked_key, 20)
                    without, with_hook = [], []
                    for _ in range(rounds):
                        without.append(await round_trip_ms(client, plain, plain_key, messages))
                        with_hook.append(await round_trip_ms(client, hooked, hooked_key, messages))
        finally:
            receiver.stop()
    for label, index in (("wall", 0), ("CPU", 1)):
        base = min(r[index] for r in without)
        hooked_ms = min(r[index] for r in with_hook)
        print(f"message round trip ({label}), no webhooks:       {base:.2f} ms")
        print(f"message round trip ({label}), subscribed to '*': {hooked_ms:.2f} ms")
        print(
            f"a subscription adds {100 * (hooked_ms - base) / base:+.1f}% {label} "
            "(target: under 10%)"
        )


if __name__ == "__main__":
    arguments = sys.argv[1:]
    asyncio.run(
        main(
            int(arguments[0]) if len(arguments) > 0 else 2000,
            int(arguments[1]) if len(arguments) > 1 else 300,
            int(arguments[2]) if len(arguments) > 2 else 5,
            arguments[3] if len(arguments) > 3 else None,
        )
    )
