"""HTTP throughput and latency of GET /v1/me against GET /livez on one live server.

Run: .venv/bin/python bench/http_load.py [--duration 5] [--rounds 8] [--threads 2]
                                    [--connections 32] [--redis redis://127.0.0.1:6379/0]

Starts `botyard serve` on a free port with a fresh SQLite database in a temporary
directory (and BOTYARD_REDIS_URL when --redis is given), creates an organization and a
read key with the CLI, raises the organization's rate limit so no request is refused,
then drives both endpoints with wrk in the same run. /v1/me is the whole API hot path:
authenticate (key cache), rate limit (memory or Redis), request log (batched), JSON.
/livez is the floor: routing and JSON, nothing else (/healthz asks the database on every
call). GET /v1/rate_limit, the cheapest authenticated call (a peek, not counted, a small
body), is driven too, for reference.

The endpoints take turns in short rounds, and the verdict is the median of the rounds'
/v1/me : /livez ratios: on a shared machine throughput drifts by 10% or more within a
minute, and a ratio taken from back-to-back runs cancels most of that drift, where one taken
from long runs minutes apart does not. The server's CPU time per request (from /proc, on
Linux) is shown too: the cost behind each throughput figure.

After every round of an API endpoint the script counts the request-log rows already in the
database: the writer has to keep up with the traffic, so the rows still pending ("log lag")
should stay within about one flush interval of requests. It then waits until every row is
written before the next round starts, so no round pays for another's log writes (without
the wait, the rows left by the /v1/rate_limit round were written during the next /livez
round and flattered the ratio). The rows a round leaves are written after it: at most one
flush interval (1 s by default) of its traffic, which is why rounds last 5 s.

wrk comes from Debian (`sudo apt-get install wrk`). wrk and the server share this
machine's CPU, which the output states: read the ratio, not the absolute figures.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_RATIO = 0.70
ENDPOINTS = ("/livez", "/v1/me", "/v1/rate_limit")
BENCH_RATE_LIMIT = 1_000_000_000


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: str
    server_cpu_us: float | None = None
    """The server process's CPU time (all threads) per request, when /proc tells it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def botyard(env: dict[str, str], *args: str) -> str:
    """Run the CLI as an operator would; its stdout (an id or a key) is the answer."""
    exe = Path(sys.executable).with_name("botyard")
    done = subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        sys.exit(f"botyard {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def status_of(base: str, path: str) -> int | None:
    """A bare HTTP/1.0 GET: this file is named http.py, so it cannot import the stdlib's."""
    host, port = base.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            status_line = conn.makefile("rb").readline().decode("latin-1")
    except OSError:
        return None
    parts = status_line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def wait_healthy(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("the server exited during start-up; see its log above")
        if status_of(base, "/livez") == 200:
            return
        time.sleep(0.2)
    sys.exit("the server did not become healthy in time")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    if not (rps and p50 and p99 and total):
        raise ValueError("could not read wrk's output:\n" + output)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=errors.group(0) if errors else "",
    )


def run_wrk(
    wrk: str, url: str, duration: int, threads: int, connections: int, headers: list[str]
) -> WrkResult:
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process and all its threads, from /proc (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def logged_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as connection:
        return int(connection.execute("SELECT count(*) FROM request_logs").fetchone()[0])


def wait_for_log(db_path: Path, expected: int, timeout: float = 30) -> float:
    """Seconds until the request log holds ``expected`` rows; exits if it never does."""
    started = time.monotonic()
    while logged_rows(db_path) < expected:
        if time.monotonic() - started > timeout:
            sys.exit(f"the request log did not catch up within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per endpoint and round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=8, help="alternate the endpoints N times")
    parser.add_argument("--redis", default=None, help="BOTYARD_REDIS_URL for the server")
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: `sudo apt-get install wrk` (Debian/Ubuntu).")

    lags: list[tuple[str, int, WrkResult]] = []
    with tempfile.TemporaryDirectory(prefix="botyard-bench-") as tmp:
        db_path = Path(tmp) / "bench.db"
        env = {
            **os.environ,
            "BOTYARD_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
            "BOTYARD_REDIS_URL": args.redis or "",
        }
        if not args.redis:
            env.pop("BOTYARD_REDIS_URL")
        botyard(env, "db", "upgrade")
        org = botyard(env, "orgs", "create", f"Bench {os.getpid()}", "--plan", "professional")
        botyard(env, "orgs", "set-rate-limit", org, str(BENCH_RATE_LIMIT))
        key = botyard(env, "keys", "create", "--org", org, "--name", "bench", "--scope", "read")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as server_log:
            server = subprocess.Popen(
                [str(Path(sys.executable).with_name("botyard")), "serve", "--port", str(port)],
                env=env,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_healthy(base, server)
                auth = [f"Authorization: Bearer {key}"]
                # Warm up: JIT-free Python still has caches, pools and the key cache to fill.
                run_wrk(wrk, base + "/livez", 2, args.threads, args.connections, [])
                logged = run_wrk(wrk, base + "/v1/me", 2, args.threads, args.connections, auth)
                api_requests = logged.requests
                results: dict[str, list[WrkResult]] = {path: [] for path in ENDPOINTS}
                for _ in range(args.rounds):
                    for path in ENDPOINTS:
                        wait_for_log(db_path, api_requests)
                        headers = auth if path.startswith("/v1/") else []
                        cpu_before = cpu_seconds(server.pid)
                        result = run_wrk(
                            wrk, base + path, args.duration, args.threads, args.connections, headers
                        )
                        cpu_after = cpu_seconds(server.pid)
                        if cpu_before is not None and cpu_after is not None and result.requests:
                            result.server_cpu_us = (cpu_after - cpu_before) / result.requests * 1e6
                        results[path].append(result)
                        if path.startswith("/v1/"):
                            api_requests += result.requests
                            lags.append((path, api_requests - logged_rows(db_path), result))
            finally:
                server.send_signal(signal.SIGINT)  # a clean shutdown flushes the request log
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
        rows = logged_rows(db_path)

    report(args, results, rows, lags)


def report(
    args: argparse.Namespace,
    results: dict[str, list[WrkResult]],
    rows: int,
    lags: list[tuple[str, int, WrkResult]],
) -> None:
    cores = os.cpu_count()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s x {args.rounds} round(s); "
        f"one `botyard serve` worker; SQLite; limiter: "
        f"{'Redis ' + args.redis if args.redis else 'in process'}"
    )
    print(
        f"NOTE: wrk and the server share this machine's {cores} CPU core(s); absolute "
        "figures are lower than on a dedicated host, the ratio is what to read."
    )
    print("req/s and server CPU are the mean over rounds; latencies are the worst round's")
    print(
        f"{'endpoint':<15} {'req/s':>8} {'CPU µs/req':>11} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
    )
    for path, runs in results.items():
        rps = statistics.fmean(r.requests_per_second for r in runs)
        cpu = [r.server_cpu_us for r in runs if r.server_cpu_us is not None]
        cpu_text = f"{statistics.fmean(cpu):.0f}" if cpu else "n/a"
        p50 = max(r.p50_ms for r in runs)
        p99 = max(r.p99_ms for r in runs)
        non_2xx = sum(r.non_2xx for r in runs)
        print(f"{path:<15} {rps:>8.0f} {cpu_text:>11} {p50:>8.2f} {p99:>8.2f} {non_2xx:>8}")
        for r in runs:
            if r.errors:
                print(f"  {path}: {r.errors}")
    for path in ENDPOINTS[1:]:
        per_round = [
            api.requests_per_second / floor.requests_per_second
            for api, floor in zip(results[path], results["/livez"], strict=True)
        ]
        ratio = statistics.median(per_round)
        mean_ratio = statistics.fmean(r.requests_per_second for r in results[path]) / (
            statistics.fmean(r.requests_per_second for r in results["/livez"])
        )
        line = (
            f"ratio {path} / /livez: median of rounds {ratio:.2f} "
            f"(range {min(per_round):.2f}-{max(per_round):.2f}; of the means {mean_ratio:.2f})"
        )
        if path == "/v1/me":
            verdict = "meets" if ratio >= TARGET_RATIO else "is BELOW"
            line += f": {verdict} the {TARGET_RATIO:.2f} target"
        print(line)
    worst = max(lags, key=lambda lag: lag[1] / lag[2].requests_per_second)
    print(
        f"request log lag at the end of a round: at most {worst[1]} rows "
        f"(~{worst[1] / worst[2].requests_per_second:.1f} s of {worst[0]} traffic)"
    )
    print(f"request_logs rows after shutdown: {rows} (every API request, warm-up included)")


if __name__ == "__main__":
    main()
