"""Issue 17, item 2: one write key froze every tenant through the knowledge index.

The attack: thirty knowledge entries whose answer is one 9,990-letter word, then one message
with a typo. The typo table, quadratic in word length, was built on the event loop while the
message was ranked: the whole API froze for about 11 s and the process grew by 2.8 GB (3.9 GB
in the review). Each test here performs it through a public interface, the API with a write
key or the dashboard as a free-plan member, while another organization calls ``/v1/me``.
The dashboard, which had no write limit at all, now limits changes per user and organization.
"""

from __future__ import annotations

import asyncio
import random
import resource
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from botyard.bots import service as bots
from botyard.bots.knowledge_index import knowledge_indexes
from botyard.main import create_app
from tests.conftest import fresh_ip, make_settings
from tests.dashboard.helpers import login
from tests.factories import auth, make_bot, make_key, make_org, make_user

ENTRIES = 30
WORD_LENGTH = 9_990
TYPO_MESSAGE = "qestion numbr 17"
"""Two typos; entry number 17 is the one that matches."""

MESSAGE_DEADLINE = 2.0
"""Seconds the typo message may take end to end (it took about 11 before the fix)."""

VICTIM_DEADLINE = 0.5
"""Seconds the slowest of the other organization's calls may take meanwhile (about 11 before)."""

PEAK_GROWTH_MB = 200
"""Growth of the test process's peak RSS the attack may cause (2.8 GB before)."""


def long_word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(WORD_LENGTH))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def while_watching(
    client: httpx.AsyncClient, victim: dict[str, str], attack: Callable[[], Awaitable[object]]
) -> tuple[float, float]:
    """Run ``attack`` while another organization calls /v1/me; (attack s, slowest call s)."""
    done = asyncio.Event()
    slowest = 0.0

    async def watch() -> None:
        nonlocal slowest
        while not done.is_set():
            started = time.perf_counter()
            response = await client.get("/v1/me", headers=victim)
            assert response.status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        await attack()
        took = time.perf_counter() - started
    finally:
        done.set()
        await watcher
    return took, slowest


async def victim_headers(app: FastAPI) -> dict[str, str]:
    _, key = await make_key(app, await make_org(app, rate_limit=1_000_000))
    return auth(key)


async def test_long_words_and_a_typo_over_the_api_stall_no_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, key = await make_key(app, await make_org(app), ["write"])
    attacker = auth(key)
    victim = await victim_headers(app)
    bot = (await client.post("/v1/bots", json={"name": "Heavy"}, headers=attacker)).json()
    rng = random.Random(17)
    ids = {}
    for number in range(10, 10 + ENTRIES):
        created = await client.post(
            f"/v1/bots/{bot['id']}/knowledge",
            json={"question": f"question number {number}", "answer": long_word(rng)},
            headers=attacker,
        )
        assert created.status_code == 201, created.text
        ids[number] = created.json()["id"]
    started = await client.post(f"/v1/bots/{bot['id']}/conversations", json={}, headers=attacker)
    conversation = started.json()
    peak_before = peak_rss_mb()

    async def send() -> None:
        sent = await client.post(
            f"/v1/conversations/{conversation['id']}/messages",
            json={"text": TYPO_MESSAGE},
            headers=attacker,
        )
        assert sent.status_code == 201, sent.text
        # Typos are still forgiven on ordinary words: the right entry answers.
        assert sent.json()["reply"]["knowledge_id"] == ids[17]

    took, slowest = await while_watching(client, victim, send)
    assert took < MESSAGE_DEADLINE
    assert slowest < VICTIM_DEADLINE
    assert peak_rss_mb() - peak_before < PEAK_GROWTH_MB
    index = knowledge_indexes.cached(bot["id"])
    assert index is not None and len(index) == ENTRIES
    assert index.estimated_bytes < 1024 * 1024


async def test_long_words_and_a_typo_from_the_dashboard_stall_no_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A member of a free organization (no API access) mounts the same attack by hand."""
    org = await make_org(app, plan="free")
    csrf = await login(client, await make_user(app, org, "member"))
    victim = await victim_headers(app)
    created = await client.post("/dashboard/bots", data={"csrf_token": csrf, "name": "Heavy"})
    assert created.status_code == 303
    bot_path = created.headers["location"].split("?")[0]
    rng = random.Random(2)
    for number in range(10, 10 + ENTRIES):
        added = await client.post(
            f"{bot_path}/knowledge",
            data={
                "csrf_token": csrf,
                "question": f"question number {number}",
                "answer": long_word(rng),
            },
        )
        assert added.status_code == 303, added.text
    peak_before = peak_rss_mb()

    async def try_it() -> None:
        sent = await client.post(
            f"{bot_path}/try", data={"csrf_token": csrf, "message": TYPO_MESSAGE}
        )
        assert sent.status_code == 303, sent.text
        page = await client.get(sent.headers["location"])
        assert '<span class="badge knowledge">knowledge</span>' in page.text

    took, slowest = await while_watching(client, victim, try_it)
    assert took < MESSAGE_DEADLINE
    assert slowest < VICTIM_DEADLINE
    assert peak_rss_mb() - peak_before < PEAK_GROWTH_MB


@pytest.fixture
async def limited_app(database_url: str) -> AsyncIterator[FastAPI]:
    """An app whose dashboard allows 3 changes per user and 5 per organization an hour."""
    application = create_app(
        make_settings(database_url, dashboard_write_limit=3, dashboard_org_write_limit=5)
    )
    async with application.router.lifespan_context(application):
        yield application


async def dashboard_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(fresh_ip(), 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_dashboard_changes_are_limited_per_user_and_per_organization(
    limited_app: FastAPI,
) -> None:
    org = await make_org(limited_app, plan="free")
    bot = await make_bot(limited_app, org)
    entry = {"question": "How do I get a refund?", "answer": "Ask billing."}
    async with (
        await dashboard_client(limited_app) as first,
        await dashboard_client(limited_app) as second,
    ):
        first_csrf = await login(first, await make_user(limited_app, org, "member"))
        second_csrf = await login(second, await make_user(limited_app, org, "member"))
        knowledge = f"/dashboard/bots/{bot.id}/knowledge"
        for _ in range(3):
            added = await first.post(knowledge, data={"csrf_token": first_csrf, **entry})
            assert added.status_code == 303
        refused = await first.post(knowledge, data={"csrf_token": first_csrf, **entry})
        assert refused.status_code == 429
        assert "Too many changes" in refused.text
        assert 3000 < int(refused.headers["retry-after"]) <= 3600
        tried = await first.post(
            f"/dashboard/bots/{bot.id}/try", data={"csrf_token": first_csrf, "message": "hi"}
        )
        assert tried.status_code == 429  # "try it" writes a conversation: it counts too
        assert (await first.get(f"/dashboard/bots/{bot.id}")).status_code == 200  # reading does not

        # A forged form is refused before it can spend anyone's budget.
        forged = await second.post(knowledge, data={"csrf_token": "forged", **entry})
        assert forged.status_code == 403
        for _ in range(2):  # the organization's 5 minus the first user's 3
            added = await second.post(knowledge, data={"csrf_token": second_csrf, **entry})
            assert added.status_code == 303
        refused = await second.post(
            "/dashboard/bots", data={"csrf_token": second_csrf, "name": "Another"}
        )
        assert refused.status_code == 429

    async with limited_app.state.sessionmaker() as session:
        entries, _, _ = await bots.list_knowledge(session, bot, limit=100, cursor=None)
    assert len(entries) == 5
