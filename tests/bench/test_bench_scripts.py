"""The benchmark scripts still run against the current code (a refactor once broke one unseen).

Tiny call counts: these check that each script runs to the end and reports its rows, not the
figures themselves, which belong to `make bench` and `make bench-http` on a quiet machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import ON_CI

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run(script: str, *args: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_limiter_benchmark_reports_both_bucket_counts() -> None:
    out = run("limiter.py", "200")
    rows = [line.split() for line in out.splitlines() if line.startswith("memory")]
    assert [row[1] for row in rows] == ["1", "2"]
    assert all(float(row[2]) > 0 for row in rows)


def test_auth_benchmark_reports_hits_and_a_sqlite_miss() -> None:
    out = run("auth.py", "2000", "20")
    assert "cache hit, verification + memory rate limit" in out
    assert "cache miss, SQLite (KeyCache.lookup)" in out


def test_endpoint_benchmark_answers_every_path() -> None:
    out = run("endpoints.py", "50", "1")
    statuses = {line.split()[0]: line.split()[1] for line in out.splitlines() if line[:1] == "/"}
    assert statuses == {
        "/livez": "200",
        "/v1/rate_limit": "200",
        "/v1/me": "200",
        "/v1/no-such-route": "404",
    }


def test_http_benchmark_runs_a_round_and_logs_every_request() -> None:
    if shutil.which("wrk") is None:
        if ON_CI:
            pytest.fail("wrk is missing; .ci/run installs it", pytrace=False)
        pytest.skip("wrk is not installed (apt-get install wrk)")
    out = run("http_load.py", "--duration", "1", "--rounds", "1", "--connections", "4")
    assert "ratio /v1/me / /livez: median of rounds" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line[:1] == "/"}
    assert set(lines) == {"/livez", "/v1/me", "/v1/rate_limit"}
    assert all(fields[-1] == "0" for fields in lines.values())  # no non-2xx answers


def test_webhook_benchmark_delivers_and_compares_round_trips() -> None:
    out = run("webhooks.py", "30", "5", "1")
    assert "events/s to a local receiver (30 events)" in out
    assert "a subscription adds" in out


def test_widget_benchmark_reports_the_round_trip_in_process_and_over_http() -> None:
    out = run("widget.py", "5", "1")
    rows = {line.split()[0] for line in out.splitlines() if line.startswith(("/", "widget"))}
    assert rows == {"/healthz", "/livez", "widget"}
    assert "in process (ASGI)" in out and "over HTTP" in out
    assert "round trip / /healthz (medians)" in out


def test_api_workload_benchmark_drives_every_endpoint_beside_healthz() -> None:
    if shutil.which("wrk") is None:
        if ON_CI:
            pytest.fail("wrk is missing; .ci/run installs it", pytrace=False)
        pytest.skip("wrk is not installed (apt-get install wrk)")
    out = run(
        "api_workload.py",
        *("--duration", "1", "--rounds", "1", "--connections", "2", "--calls", "5"),
        *("--knowledge", "5", "--messages", "20", "--bots", "2"),
    )
    lines = out.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("endpoint"))) + 1
    table = lines[start : lines.index(next(x for x in lines if x.startswith("target:")))]
    rows = {line[:22].strip(): line[22:].split() for line in table}
    assert set(rows) == {
        "/healthz",
        "list 20 bots",
        "get one bot",
        "list 20 conversations",
        "list 20 messages",
        "post a message",
        "post to many chats",
        "create a bot",
        "analytics",
        "/v1/me",
        "/livez",
    }
    statuses = {label: fields[0] for label, fields in rows.items()}
    posts = ("post a message", "post to many chats", "create a bot")
    assert {statuses.pop(label) for label in posts} == {"201"}
    assert set(statuses.values()) == {"200"}
    assert all(fields[5] == "0" for label, fields in rows.items() if label != "/healthz")
