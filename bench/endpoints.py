"""Microseconds per request through the whole ASGI app, without an HTTP server.

Run: .venv/bin/python bench/endpoints.py [calls_per_round] [rounds]

Each request goes through everything the app does (middleware, routing, dependencies,
handler, serialization, the request log) but not through uvicorn or the network, so the
figures are steadier than bench/http_load.py's and show where the app's own time goes:

- /livez: the floor (it asks nothing of the database or the limiter).
- /v1/rate_limit: the cheapest authenticated call (a peek, not counted, tiny body).
- /v1/me: the hot path of issue 4 (authenticate, count, log, a three-part body).
- an unknown /v1 path with a valid key: a 404 after trying every route (twice: once more
  with a trailing slash), the worst case of route matching.

A fresh SQLite database in a temporary directory is set up with the CLI, as an operator
would. Each row shows the best of several rounds, since other processes can only add time.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PATHS = ("/livez", "/v1/rate_limit", "/v1/me", "/v1/no-such-route")


def botyard(*args: str) -> str:
    exe = Path(sys.executable).with_name("botyard")
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"botyard {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def scope_for(app: Any, path: str, key: str) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/endpoints")]
    if path.startswith("/v1/"):
        headers.append((b"authorization", f"Bearer {key}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def per_request_us(app: Any, path: str, key: str, calls: int) -> tuple[float, int]:
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(calls):
        await app(scope_for(app, path, key), receive, send)
    elapsed = time.perf_counter() - started
    return elapsed / calls * 1e6, statuses[-1]


async def measure(calls: int, rounds: int, key: str) -> None:
    from botyard.main import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        for path in PATHS:  # warm caches, pools and the key cache
            await per_request_us(app, path, key, 200)
        samples: dict[str, list[float]] = {path: [] for path in PATHS}
        statuses: dict[str, int] = {}
        for _ in range(rounds):
            for path in PATHS:
                micros, statuses[path] = await per_request_us(app, path, key, calls)
                samples[path].append(micros)
            await app.state.request_log.flush()

    print(f"µs per request through the ASGI app: best and median of {rounds} rounds of {calls}")
    print(f"{'path':<20} {'status':>6} {'best':>8} {'median':>8}")
    for path in PATHS:
        best, median = min(samples[path]), statistics.median(samples[path])
        print(f"{path:<20} {statuses[path]:>6} {best:>8.1f} {median:>8.1f}")


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    with tempfile.TemporaryDirectory(prefix="botyard-bench-") as tmp:
        os.environ["BOTYARD_DATABASE_URL"] = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        os.environ.pop("BOTYARD_REDIS_URL", None)
        botyard("db", "upgrade")
        org = botyard("orgs", "create", "Bench endpoints", "--plan", "professional")
        botyard("orgs", "set-rate-limit", org, "1000000000")
        key = botyard("keys", "create", "--org", org, "--name", "bench", "--scope", "admin")
        asyncio.run(measure(calls, rounds, key))


if __name__ == "__main__":
    main()
