"""Issue 17, item 2, "done when" 2: the memory and latency bound, measured on a real server.

A write key fills bots with the most expensive knowledge the API accepts (10,000-character
answers of distinct random words, and answers of one 9,990-letter word), then sends typo
messages round the bots so that every index is built, evicted and rebuilt, while another
organization calls ``/v1/me`` the whole time. The server runs with a 64 MB index cap for
the process and 16 MB per bot, so the attack exceeds both several times over in seconds.

Measured bounds: the other organization's ``/v1/me`` p99 stays under 50 ms, and the
``botyard serve`` process's resident memory grows by less than the process's index cap plus
``RSS_SLACK_MB`` (transient build memory and allocator slack). See README, Knowledge base limits.
On a machine so loaded that ``/v1/me`` already misses the latency bound with no attack at all,
the latency check is skipped (saying so); the memory bound is always checked.
"""

from __future__ import annotations

import os
import random
import socket
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.runner import botyard_executable

pytestmark = pytest.mark.slow

INDEX_MEMORY_MB = 64
BOT_MEMORY_MB = 16
RSS_SLACK_MB = 64
VICTIM_P99_MS = 50.0
BOTS = 8
ENTRIES_PER_BOT = 30
"""Enough for each bot to pass its 16 MB cap (a 10,000-character answer of distinct words
makes about 1 MB of index)."""
ROUNDS = 3
QUIET_SECONDS = 3.0
QUIET_P99_MAX_MS = 25.0
"""Past this p99 before the attack, the machine itself (other work on it) is too slow for the
50 ms bound to say anything about the server: the latency check is skipped, memory still not."""


@dataclass
class Server:
    url: str
    pid: int
    env: dict[str, str]
    cwd: Path
    log: Path

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [botyard_executable(), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def memory_mb(self, field: str = "VmRSS") -> float:
        """Resident memory now (VmRSS), or the most it ever was (VmHWM, the kernel's peak)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTYARD_")}
    env.update(
        BOTYARD_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'botyard.db'}",
        BOTYARD_KNOWLEDGE_INDEX_MEMORY_MB=str(INDEX_MEMORY_MB),
        BOTYARD_KNOWLEDGE_INDEX_BOT_MEMORY_MB=str(BOT_MEMORY_MB),
    )
    with (tmp_path / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [botyard_executable(), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "botyard serve did not start"
                time.sleep(0.1)
            yield Server(url, process.pid, env, tmp_path, tmp_path / "serve.log")
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def org_key(server: Server, name: str, scope: str) -> dict[str, str]:
    org = server.cli("orgs", "create", name, "--plan", "professional")
    server.cli("orgs", "set-rate-limit", org, "1000000")
    key = server.cli("keys", "create", "--org", org, "--name", name, "--scope", scope)
    return {"Authorization": f"Bearer {key}"}


def adversarial_answer(rng: random.Random, number: int) -> str:
    """Every third entry one 9,990-letter word, the others as many distinct words as fit."""
    if number % 3 == 0:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(9_990))
    words: list[str] = []
    length = 0
    while True:
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))
        if length + len(word) + 1 > 10_000:
            return " ".join(words)
        words.append(word)
        length += len(word) + 1


VICTIM = """
import sys, time, httpx
url, key, stop_file, out_file = sys.argv[1:]
latencies, failures = [], 0
with httpx.Client(base_url=url, headers={"Authorization": "Bearer " + key}, timeout=30) as client:
    for _ in range(20):
        client.get("/v1/me")
    open(out_file + ".ready", "w").close()
    while True:
        try:
            open(stop_file).close()
            break
        except FileNotFoundError:
            pass
        at, started = time.time(), time.perf_counter()
        failures += client.get("/v1/me").status_code != 200
        latencies.append((at, (time.perf_counter() - started) * 1000))
        time.sleep(0.005)
with open(out_file, "w") as out:
    out.write(f"{failures}\\n" + "\\n".join(f"{at:.6f} {ms:.3f}" for at, ms in latencies))
"""


class Victim:
    """Another organization calling /v1/me back to back from a process of its own (so that the
    attacker's client in this process never delays its calls), keeping every latency."""

    def __init__(self, server: Server, key: str) -> None:
        self.stop_file = server.cwd / "victim.stop"
        self.out_file = server.cwd / "victim.out"
        self.process = subprocess.Popen(
            [sys.executable, "-c", VICTIM, server.url, key, str(self.stop_file), str(self.out_file)]
        )
        deadline = time.monotonic() + 30
        while not (server.cwd / "victim.out.ready").exists():
            assert self.process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)

    def finish(self) -> tuple[int, list[tuple[float, float]]]:
        """(failed calls, [(epoch seconds, latency ms)] of every call)."""
        self.stop_file.touch()
        assert self.process.wait(timeout=60) == 0
        failures, *lines = self.out_file.read_text().splitlines()
        calls = [line.split() for line in lines]
        return int(failures), [(float(at), float(ms)) for at, ms in calls]


def p99(latencies_ms: list[float]) -> float:
    ordered = sorted(latencies_ms)
    return ordered[int(len(ordered) * 0.99)]


def test_a_write_key_filling_bots_keeps_other_tenants_fast_and_memory_bounded(
    server: Server,
) -> None:
    attacker = httpx.Client(
        base_url=server.url, headers=org_key(server, "Attacker", "write"), timeout=120
    )
    victim_key = org_key(server, "Victim", "read")["Authorization"].removeprefix("Bearer ")
    rng = random.Random(172)
    answers = [adversarial_answer(rng, number) for number in range(ENTRIES_PER_BOT)]
    for _ in range(20):  # warm up before the baseline
        attacker.get("/v1/bots")
    baseline_mb = server.memory_mb()
    victim = Victim(server, victim_key)
    time.sleep(QUIET_SECONDS)
    attack_started = time.time()
    bots = []
    conversations = []
    try:
        for bot_number in range(BOTS):
            bot = attacker.post("/v1/bots", json={"name": f"Heavy {bot_number}"}).json()
            bots.append(bot["id"])
            for number in range(ENTRIES_PER_BOT):
                created = attacker.post(
                    f"/v1/bots/{bot['id']}/knowledge",
                    json={"question": f"question number {10 + number}", "answer": answers[number]},
                )
                assert created.status_code == 201, created.text
            started = attacker.post(f"/v1/bots/{bot['id']}/conversations", json={})
            conversations.append(started.json()["id"])
        replies = []
        for _ in range(ROUNDS):  # every index built, evicted by the others, rebuilt
            for conversation in conversations:
                sent = attacker.post(
                    f"/v1/conversations/{conversation}/messages",
                    json={"text": "qestion numbr 11"},
                )
                assert sent.status_code == 201, sent.text
                replies.append(sent.json()["reply"])
        # The last entry of each bot is past its 16 MB cap, so it is never the answer.
        last = f"question number {10 + ENTRIES_PER_BOT - 1}"
        unindexed = attacker.post(
            f"/v1/conversations/{conversations[0]}/messages", json={"text": last}
        )
    finally:
        failures, calls = victim.finish()
    peak_mb = server.memory_mb("VmHWM")  # the kernel's peak since start: an upper bound
    growth_mb = peak_mb - baseline_mb
    quiet = [ms for at, ms in calls if at < attack_started]
    attacked = [ms for at, ms in calls if at >= attack_started]
    print(
        f"\n/v1/me of another organization: p99 {p99(quiet):.1f} ms before the attack, "
        f"{p99(attacked):.1f} ms during it ({len(attacked)} calls, max {max(attacked):.1f} ms); "
        f"serve RSS {baseline_mb:.0f} MB -> peak {peak_mb:.0f} MB (+{growth_mb:.0f} MB)"
    )
    assert failures == 0
    assert all(reply["answer_source"] == "knowledge" for reply in replies)
    assert unindexed.json()["reply"]["answer_source"] == "fallback"
    assert growth_mb < INDEX_MEMORY_MB + RSS_SLACK_MB
    if p99(quiet) > QUIET_P99_MAX_MS and p99(attacked) >= VICTIM_P99_MS:
        pytest.skip(
            f"this machine answers /v1/me in {p99(quiet):.0f} ms (p99) with no attack at all: "
            "too loaded to tell whether the attack slows other tenants"
        )
    assert p99(attacked) < VICTIM_P99_MS
