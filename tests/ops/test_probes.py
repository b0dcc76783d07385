"""/livez, /readyz and /healthz: what they ask, and what a caller without the metrics token
may learn from them (statuses, never backends, errors or backlog)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI

from botyard.main import create_app
from tests.conftest import make_settings
from tests.ops.test_database_outage import client_of
from tests.test_multiprocess import free_port

TOKEN = "metrics-token-for-tests-0123456789"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


def app_on(url: str) -> FastAPI:
    return create_app(
        make_settings(url, db_timeout=0.5, metrics_token=TOKEN, request_log_shutdown_wait=0)
    )


async def test_livez_and_readyz_answer_on_a_migrated_database(database_url: str) -> None:
    async with client_of(app_on(database_url)) as client:
        assert (await client.get("/livez")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_readyz_is_503_without_the_database_while_livez_stays_200() -> None:
    async with client_of(app_on(f"postgresql+asyncpg://u@127.0.0.1:{free_port()}/d")) as client:
        assert (await client.get("/livez")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not_ready", "reason": "database unavailable"}
        health = await client.get("/healthz", headers=OPERATOR)
        assert health.status_code == 503
        assert health.json()["checks"]["database"]["error"].startswith("ConnectionRefusedError")


async def test_readyz_is_503_until_migrations_are_at_head(tmp_path: Path) -> None:
    async with client_of(app_on(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not_ready", "reason": "migrations pending"}


async def test_a_hammered_healthz_answers_every_caller(database_url: str) -> None:
    """Callers share the probe in flight; one that resumes after a newer probe replaced its
    own still gets its own answer (it used to read the newer, unfinished one: a 500 for about
    1 in 60 /healthz calls under wrk -c32)."""
    async with client_of(app_on(database_url)) as client:

        async def arriving(path: str, turns: int) -> int:
            for _ in range(turns):  # callers arrive while earlier probes finish
                await asyncio.sleep(0)
            return (await client.get(path)).status_code

        for path in ("/healthz", "/readyz"):
            statuses = await asyncio.gather(*(arriving(path, i % 40) for i in range(400)))
            # A probe slower than 1 s on a loaded machine is a fair 503; a 500 never is.
            assert 200 in statuses and set(statuses) <= {200, 503}


async def test_healthz_shows_backends_only_to_the_metrics_token(database_url: str) -> None:
    async with client_of(app_on(database_url)) as client:
        public = await client.get("/healthz")
        wrong = await client.get("/healthz", headers={"Authorization": "Bearer not-the-token"})
        detailed = await client.get("/healthz", headers=OPERATOR)
    for response in (public, wrong):
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "checks": {
                name: {"status": "ok"} for name in ("database", "rate_limiter", "request_log")
            },
        }
        for detail in ("sqlite", "postgresql", "memory", "pending", "backend"):
            assert detail not in response.text
    checks = detailed.json()["checks"]
    assert checks["database"] == {"status": "ok", "backend": database_url.split("+")[0]}
    assert checks["rate_limiter"] == {"status": "ok", "backend": "memory"}
    assert isinstance(checks["request_log"]["pending"], int)


async def test_healthz_probes_the_database_every_time(database_url: str) -> None:
    """No cached "ok" after the database has gone: each call asks it again."""
    app = app_on(database_url)
    async with client_of(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        healthy_engine = app.state.engine
        app.state.engine = create_app(
            make_settings(f"postgresql+asyncpg://u@127.0.0.1:{free_port()}/d")
        ).state.engine
        try:
            assert (await client.get("/healthz")).status_code == 503
            assert (await client.get("/readyz")).status_code == 503
        finally:
            await app.state.engine.dispose()
            app.state.engine = healthy_engine
        assert (await client.get("/healthz")).status_code == 200
