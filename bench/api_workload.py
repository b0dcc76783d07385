"""The real API workload (issue 13): reads, writes and replies beside /healthz in one run.

Run: .venv/bin/python bench/api_workload.py [--duration 5] [--rounds 5] [--connections 32]
        [--knowledge 200] [--messages 10000] [--bots 24] [--calls 300]
        [--database-url postgresql+asyncpg://...] [--only "list 20 bots,get one bot"]

Sets up one `botyard serve` (SQLite in a temporary directory by default; `--database-url`
for an empty PostgreSQL database you can throw away) with the CLI, then the data with the
API, as a user would: a bot with a knowledge base of ``--knowledge`` entries, ``--bots``
more bots and conversations, and a bot with ``--messages`` messages for analytics (asked
for that bot, so the messages the POST rounds add to the other bot do not grow it). On
PostgreSQL the tables are then analyzed, as autovacuum would (:func:`analyze`).

Each endpoint of ENDPOINTS is then driven with wrk beside /healthz in alternating short
rounds and the verdict is the median of the rounds' endpoint : /healthz ratios, by
bench/http_load.py's machinery (imported, not copied); the POST endpoints go through a wrk
Lua script. After the server stops, the same endpoints are timed in process through the
ASGI app (like bench/endpoints.py) on the same database: the app's own cost, without
uvicorn or the network.

The machine is shared (wrk and the server share its cores, other work runs beside them):
read the ratios, which cancel most of the drift, not the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_load import (
    BENCH_RATE_LIMIT,
    WrkResult,
    botyard,
    cpu_seconds,
    free_port,
    logged_rows,
    parse_wrk,
    wait_for_log,
    wait_healthy,
)

FLOOR = "/healthz"
POSTGRES_SHARE = 2 / 3
"""On PostgreSQL each endpoint is to reach this share of its SQLite target."""
MESSAGE_TEXT = "How do I reset my password?"


@dataclass(frozen=True)
class Endpoint:
    label: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    target: float | None = None
    """The issue's minimum median ratio to /healthz (SQLite, one worker)."""
    rotate: tuple[str, ...] = ()
    """Over HTTP, each request takes the next of these paths instead of ``path``."""


def endpoints(bot_id: str, conversations: list[str], analytics_bot: str) -> list[Endpoint]:
    conversation_id = conversations[0]
    return [
        Endpoint("list 20 bots", "GET", "/v1/bots?limit=20", target=0.45),
        Endpoint("get one bot", "GET", f"/v1/bots/{bot_id}", target=0.55),
        Endpoint("list 20 conversations", "GET", "/v1/conversations?limit=20"),
        Endpoint(
            "list 20 messages",
            "GET",
            f"/v1/conversations/{conversation_id}/messages?limit=20",
            target=0.45,
        ),
        Endpoint(
            "post a message",
            "POST",
            f"/v1/conversations/{conversation_id}/messages",
            body={"text": MESSAGE_TEXT},
            target=0.30,
        ),
        # As users chat: each conversation gets one message at a time, many conversations at
        # once. The row above sends every message to one conversation, whose row lock (and
        # on SQLite its compare-and-set) then orders them all: the contended case.
        Endpoint(
            "post to many chats",
            "POST",
            f"/v1/conversations/{conversation_id}/messages",
            body={"text": MESSAGE_TEXT},
            target=0.30,
            rotate=tuple(f"/v1/conversations/{c}/messages" for c in conversations),
        ),
        Endpoint("create a bot", "POST", "/v1/bots", body={"name": "Bench bot"}, target=0.30),
        Endpoint("analytics", "GET", f"/v1/analytics?bot_id={analytics_bot}", target=0.10),
        Endpoint("/v1/me", "GET", "/v1/me"),
        # The process alone, without /healthz's database probe: ratio_to_livez = ratio / this.
        Endpoint("/livez", "GET", "/livez"),
    ]


class Api:
    """A tiny JSON client for the set-up (stdlib only: the bench needs no client library)."""

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for attempt in range(20):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                # A busy SQLite answers 503 once a write waited too long; try again.
                if exc.code != 503 or attempt == 19:
                    raise SystemExit(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from exc
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")


def in_parallel(work: Callable[[int], Any], count: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(work, range(count)))


def knowledge_entry(i: int) -> dict[str, Any]:
    topics = ("password", "billing", "invoice", "refund", "login", "account", "plan", "export")
    topic = topics[i % len(topics)]
    return {
        "question": f"Question {i} about the {topic}: how does {topic} work for case {i}?",
        "answer": f"Answer {i}: the {topic} works like this, step {i} then step {i + 1}.",
        "tags": [topic],
    }


def set_up(api: Api, args: argparse.Namespace) -> tuple[str, list[str], str]:
    """The data set: the bot with the knowledge base, conversations on it (the first with a
    page of messages), the analytics bot."""
    bot = api.call("POST", "/v1/bots", {"name": "Support bot"})["id"]
    in_parallel(lambda i: api.call("POST", f"/v1/bots/{bot}/knowledge", knowledge_entry(i)),
                args.knowledge)  # fmt: skip
    api.call("POST", f"/v1/bots/{bot}/knowledge",
             {"question": "How do I reset my password?",
              "answer": "Use the Forgot password link on the sign-in page."})  # fmt: skip
    in_parallel(lambda i: api.call("POST", "/v1/bots", {"name": f"Bot {i}"}), args.bots)
    conversations = in_parallel(
        lambda i: api.call("POST", f"/v1/bots/{bot}/conversations", {})["id"], args.bots
    )
    conversation = conversations[0]
    for _ in range(10):  # a page of messages to list
        api.call("POST", f"/v1/conversations/{conversation}/messages", {"text": MESSAGE_TEXT})

    analytics_bot = api.call("POST", "/v1/bots", {"name": "Analytics bot"})["id"]
    api.call("POST", f"/v1/bots/{analytics_bot}/knowledge", knowledge_entry(0))
    per_conversation = 50  # a welcome, then 2 messages per exchange
    starts = max(1, args.messages // per_conversation)
    talks = in_parallel(
        lambda i: api.call("POST", f"/v1/bots/{analytics_bot}/conversations", {})["id"],
        starts,
    )
    exchanges = [(talks[i % starts]) for i in range(max(0, (args.messages - starts) // 2))]
    in_parallel(
        lambda i: api.call(
            "POST", f"/v1/conversations/{exchanges[i]}/messages", {"text": f"Hello {i}"}
        ),
        len(exchanges),
    )
    return bot, conversations, analytics_bot


async def analyze(database_url: str) -> None:
    """Give PostgreSQL's planner the statistics of the data just loaded.

    A default server's autovacuum analyzes a table once enough of it changed; a test server
    may run without it (this machine's does), and with no statistics the planner sorted a
    conversation's 8,861 messages for a page of 20 (4.3 ms) instead of reading the
    (conversation, created_at) index (0.05 ms)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


def lua_script(tmp: Path, endpoint: Endpoint) -> Path:
    """The wrk script of a POST endpoint: method, JSON body and content type, and the paths
    it goes round (``Endpoint.rotate``)."""
    script = tmp / f"{endpoint.label.replace(' ', '_').replace('/', '')}.lua"
    body = json.dumps(endpoint.body)
    lines = [
        f'wrk.method = "{endpoint.method}"',
        f"wrk.body = [[{body}]]",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if endpoint.rotate:
        paths = ", ".join(f'"{path}"' for path in endpoint.rotate)
        lines += [
            f"local paths = {{{paths}}}",
            "local turn = math.random(#paths)",
            "request = function()",
            "  turn = turn % #paths + 1",
            "  return wrk.format(nil, paths[turn])",
            "end",
        ]
    script.write_text("\n".join(lines) + "\n")
    return script


def run_wrk(
    wrk: str, url: str, args: argparse.Namespace, headers: list[str], script: Path | None
) -> WrkResult:
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    command.append("--latency")
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def scope_for(endpoint: Endpoint, key: str, body: bytes) -> dict[str, Any]:
    path, _, query = endpoint.path.partition("?")
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"bench/api_workload"),
        (b"authorization", f"Bearer {key}".encode()),
    ]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": endpoint.method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def in_process_us(
    items: list[Endpoint], key: str, calls: int, rounds: int
) -> dict[str, tuple[float, int]]:
    """Best of ``rounds`` µs per request through the ASGI app, and the last status."""
    from botyard.main import create_app

    app = create_app()
    results: dict[str, tuple[float, int]] = {}
    async with app.router.lifespan_context(app):
        for endpoint in items:
            body = json.dumps(endpoint.body).encode() if endpoint.body is not None else b""
            statuses: list[int] = []

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], statuses: list[int] = statuses) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            samples = []
            for round_number in range(rounds + 1):  # the first round warms up
                started = time.perf_counter()
                for _ in range(calls):
                    scope = scope_for(endpoint, key, body)
                    await app({**scope, "app": app}, receive, send)
                if round_number:
                    samples.append((time.perf_counter() - started) / calls * 1e6)
                await app.state.request_log.flush()
            results[endpoint.label] = (min(samples), statuses[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per endpoint and round")
    parser.add_argument("--rounds", type=int, default=5, help="alternate the endpoints N times")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--knowledge", type=int, default=200, help="entries of the bot's KB")
    parser.add_argument("--messages", type=int, default=10_000, help="messages for analytics")
    parser.add_argument("--bots", type=int, default=24, help="more bots and conversations")
    parser.add_argument("--calls", type=int, default=300, help="in-process calls per round")
    parser.add_argument("--database-url", default=None, help="an empty database (PostgreSQL)")
    parser.add_argument(
        "--only", default=None, help="comma-separated labels to drive, e.g. 'list 20 bots,/v1/me'"
    )
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: `sudo apt-get install wrk` (Debian/Ubuntu).")

    with tempfile.TemporaryDirectory(prefix="botyard-bench-") as tmp_name:
        tmp = Path(tmp_name)
        db_path: Path | None = None
        if args.database_url:
            database_url = args.database_url
        else:
            db_path = tmp / "bench.db"
            database_url = f"sqlite+aiosqlite:///{db_path}"
        env = {**os.environ, "BOTYARD_DATABASE_URL": database_url}
        env.pop("BOTYARD_REDIS_URL", None)
        os.environ.update(BOTYARD_DATABASE_URL=database_url)
        os.environ.pop("BOTYARD_REDIS_URL", None)
        botyard(env, "db", "upgrade")
        org = botyard(env, "orgs", "create", f"Bench {os.getpid()}", "--plan", "professional")
        botyard(env, "orgs", "set-rate-limit", org, str(BENCH_RATE_LIMIT))
        key = botyard(env, "keys", "create", "--org", org, "--name", "bench", "--scope", "admin")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        exe = str(Path(sys.executable).with_name("botyard"))
        with (tmp / "server.log").open("wb") as server_log:
            server = subprocess.Popen(
                [exe, "serve", "--port", str(port)], env=env, stdout=server_log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                wait_healthy(base, server)
                started = time.monotonic()
                bot, conversations, analytics_bot = set_up(Api(base, key), args)
                print(f"set-up through the API: {time.monotonic() - started:.0f} s")
                if args.database_url:
                    asyncio.run(analyze(database_url))
                items = endpoints(bot, conversations, analytics_bot)
                if args.only:
                    wanted = set(args.only.split(","))
                    items = [e for e in items if e.label in wanted]
                results = drive(wrk, base, args, tmp, items, key, server, db_path)
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
        floor = Endpoint(FLOOR, "GET", FLOOR)
        in_process = asyncio.run(
            in_process_us(
                [floor, *items],
                key,
                args.calls,
                3,
            )
        )
    report(args, items, results, in_process)


def drive(
    wrk: str,
    base: str,
    args: argparse.Namespace,
    tmp: Path,
    items: list[Endpoint],
    key: str,
    server: subprocess.Popen[bytes],
    db_path: Path | None,
) -> dict[str, list[WrkResult]]:
    """Alternating rounds of /healthz and every endpoint; waits for the request log between."""
    scripts = {e.label: lua_script(tmp, e) for e in items if e.body is not None}
    run_wrk(wrk, base + FLOOR, args, [], None)  # warm up
    results: dict[str, list[WrkResult]] = {FLOOR: [], **{e.label: [] for e in items}}
    api_requests = logged_rows(db_path) if db_path else 0
    for _ in range(args.rounds):
        for endpoint in [Endpoint(FLOOR, "GET", FLOOR), *items]:
            if db_path is not None:
                wait_for_log(db_path, api_requests, timeout=60)
            else:
                time.sleep(1.5)  # one flush interval of the request log, and some
            headers = []
            if endpoint.path.startswith("/v1/"):
                headers = [f"Authorization: Bearer {key}"]
            cpu_before = cpu_seconds(server.pid)
            result = run_wrk(wrk, base + endpoint.path, args, headers, scripts.get(endpoint.label))
            cpu_after = cpu_seconds(server.pid)
            if cpu_before is not None and cpu_after is not None and result.requests:
                result.server_cpu_us = (cpu_after - cpu_before) / result.requests * 1e6
            results[endpoint.label].append(result)
            if endpoint.path.startswith("/v1/"):
                api_requests += result.requests
    return results


def report(
    args: argparse.Namespace,
    items: list[Endpoint],
    results: dict[str, list[WrkResult]],
    in_process: dict[str, tuple[float, int]],
) -> None:
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s x {args.rounds} round(s); "
        f"one `botyard serve` worker; {backend}; in process: best of 3 rounds of {args.calls}"
    )
    print(
        f"NOTE: wrk and the server share this machine's {os.cpu_count()} CPU core(s) with "
        "other work; absolute figures are noisy, the ratio is what to read."
    )
    print("req/s and CPU are the mean over rounds, p99 the worst round's; ratio: median of rounds")
    header = (
        f"{'endpoint':<22} {'status':>6} {'µs in app':>9} {'req/s':>8} {'CPU µs':>7} "
        f"{'p99 ms':>8} {'non-2xx':>7} {'ratio':>6} {'range':>10} {'target':>7}"
    )
    print(header)
    floor_runs = results[FLOOR]
    for label, runs in results.items():
        micros, status = in_process[label]
        rps = statistics.fmean(r.requests_per_second for r in runs)
        cpu = [r.server_cpu_us for r in runs if r.server_cpu_us is not None]
        cpu_text = f"{statistics.fmean(cpu):.0f}" if cpu else "n/a"
        p99 = max(r.p99_ms for r in runs)
        non_2xx = sum(r.non_2xx for r in runs)
        per_round = [
            r.requests_per_second / f.requests_per_second
            for r, f in zip(runs, floor_runs, strict=True)
        ]
        ratio = statistics.median(per_round)
        target = next((e.target for e in items if e.label == label), None)
        if target is not None and args.database_url:
            target = round(target * POSTGRES_SHARE, 2)
        verdict = "" if target is None else f"{target:.2f}{'' if ratio >= target else ' !'}"
        spread = f"{min(per_round):.2f}-{max(per_round):.2f}"
        print(
            f"{label:<22} {status:>6} {micros:>9.0f} {rps:>8.0f} {cpu_text:>7} {p99:>8.2f} "
            f"{non_2xx:>7} {ratio:>6.2f} {spread:>10} {verdict:>7}"
        )
    print(
        "target: the issue's minimum ratio"
        + (" on PostgreSQL (two thirds of SQLite's)" if args.database_url else " on SQLite")
        + "; '!' marks one not met in this run"
    )
    floor_errors = sum(r.non_2xx for r in floor_runs)
    if floor_errors:
        print(
            f"WARNING: {floor_errors} {FLOOR} answers were not 2xx (its database check gives up "
            "after 1 s on a loaded machine); those quick refusals flatter the floor a little."
        )


if __name__ == "__main__":
    main()
