"""The website widget's round trip: start a conversation, post a message, get the reply.

Run: .venv/bin/python bench/widget.py [round_trips] [rounds] [--no-http]

In process, each round trip goes through the whole ASGI app twice (POST
/v1/widget/conversations, then POST .../messages whose answer carries the bot's reply from
its knowledge base), with a publishable key and an allowed Origin, as the widget sends them;
GET /healthz and GET /livez are timed the same way for the floor. Over HTTP, `botyard serve` runs on a free
port and one keep-alive client makes the same round trips one after another, with /healthz
and /livez timed beside them, so the figures are latencies on an idle server, not throughput.

A fresh SQLite database in a temporary directory is set up with the CLI, with the widget's
limits raised so nothing is refused. Each row shows the best and median of several rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ORIGIN = "https://shop.example"
QUESTION = "What are your opening hours?"
ANSWER = "We are open 9 to 5, Monday to Friday."
HIGH = "1000000000"
FLOORS = ("/healthz", "/livez")
"""Timed beside the round trip: /healthz (which now asks the database each time) and /livez."""


def botyard(env: dict[str, str], *args: str) -> str:
    exe = Path(sys.executable).with_name("botyard")
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"botyard {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def seed(env: dict[str, str]) -> str:
    """An organization with a bot that knows one answer, and a publishable key for it."""
    botyard(env, "db", "upgrade")
    org = botyard(env, "orgs", "create", "Bench widget", "--plan", "professional")
    key = botyard(env, "keys", "create", "--org", org, "--name", "bench", "--scope", "write")
    headers = {"Authorization": f"Bearer {key}"}

    async def create() -> str:
        from botyard.main import create_app

        app = create_app()
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):
            bot = (await client.post("/v1/bots", headers=headers, json={"name": "Bench"})).json()
            await client.post(
                f"/v1/bots/{bot['id']}/knowledge",
                headers=headers,
                json={"question": QUESTION, "answer": ANSWER},
            )
            created = await client.post(
                f"/v1/bots/{bot['id']}/publishable-keys",
                headers=headers,
                json={"allowed_origins": [ORIGIN]},
            )
            return str(created.json()["key"])

    return asyncio.run(create())


def widget_headers(publishable: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {publishable}", "Origin": ORIGIN}


async def asgi_round_trip(client: httpx.AsyncClient, publishable: str) -> None:
    headers = widget_headers(publishable)
    started = (await client.post("/v1/widget/conversations", headers=headers)).json()
    path = f"/v1/widget/conversations/{started['conversation']['id']}/messages"
    visitor = {**headers, "X-Visitor-Token": started["visitor_token"]}
    reply = (await client.post(path, headers=visitor, json={"text": QUESTION})).json()
    if reply["reply"]["text"] != ANSWER:
        sys.exit(f"unexpected reply: {json.dumps(reply)[:300]}")


async def in_process(publishable: str, trips: int, rounds: int) -> dict[str, list[float]]:
    from botyard.main import create_app

    app = create_app()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    samples: dict[str, list[float]] = {path: [] for path in FLOORS} | {"widget round trip": []}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client,
    ):
        for _ in range(20):  # warm caches, pools and the knowledge index
            await asgi_round_trip(client, publishable)
        for _ in range(rounds):
            for path in FLOORS:
                started = time.perf_counter()
                for _ in range(trips):
                    await client.get(path)
                samples[path].append((time.perf_counter() - started) / trips * 1e6)
            started = time.perf_counter()
            for _ in range(trips):
                await asgi_round_trip(client, publishable)
            samples["widget round trip"].append((time.perf_counter() - started) / trips * 1e6)
            await app.state.request_log.flush()
    return samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def over_http(
    env: dict[str, str], publishable: str, trips: int, rounds: int
) -> dict[str, list[float]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).with_name("botyard")
    server = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    samples: dict[str, list[float]] = {path: [] for path in FLOORS} | {"widget round trip": []}
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("botyard serve did not start")
                time.sleep(0.2)
            headers = widget_headers(publishable)

            def round_trip() -> None:
                started = client.post("/v1/widget/conversations", headers=headers).json()
                path = f"/v1/widget/conversations/{started['conversation']['id']}/messages"
                visitor = {**headers, "X-Visitor-Token": started["visitor_token"]}
                reply = client.post(path, headers=visitor, json={"text": QUESTION}).json()
                if reply["reply"]["text"] != ANSWER:
                    sys.exit(f"unexpected reply: {json.dumps(reply)[:300]}")

            for _ in range(20):
                round_trip()
            for _ in range(rounds):
                for path in FLOORS:
                    started = time.perf_counter()
                    for _ in range(trips):
                        client.get(path)
                    samples[path].append((time.perf_counter() - started) / trips * 1e6)
                started = time.perf_counter()
                for _ in range(trips):
                    round_trip()
                samples["widget round trip"].append((time.perf_counter() - started) / trips * 1e6)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return samples


def report(title: str, samples: dict[str, list[float]], trips: int, rounds: int) -> None:
    print(f"{title}: µs per call, best and median of {rounds} rounds of {trips}")
    print(f"{'call':<20} {'best':>10} {'median':>10}")
    for name, values in samples.items():
        print(f"{name:<20} {min(values):>10.1f} {statistics.median(values):>10.1f}")
    trip = statistics.median(samples["widget round trip"])
    for floor in FLOORS:
        print(f"round trip / {floor} (medians): {trip / statistics.median(samples[floor]):.1f}x")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    trips = int(args[0]) if args else 200
    rounds = int(args[1]) if len(args) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="botyard-bench-widget-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTYARD_")}
        env |= {
            "BOTYARD_DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            "BOTYARD_SECRET_KEY_FILE": str(Path(tmp) / "botyard.secret"),
            "BOTYARD_WIDGET_VISITOR_LIMIT": HIGH,
            "BOTYARD_WIDGET_BOT_LIMIT": HIGH,
        }
        os.environ.clear()
        os.environ.update(env)
        publishable = seed(env)
        report(
            "in process (ASGI)", asyncio.run(in_process(publishable, trips, rounds)), trips, rounds
        )
        if "--no-http" not in sys.argv:
            report("over HTTP (botyard serve, one keep-alive client)",
                   over_http(env, publishable, trips, rounds), trips, rounds)  # fmt: skip


if __name__ == "__main__":
    main()
