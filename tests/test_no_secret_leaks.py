"""No key and no password is ever stored, logged or echoed: only hashes and hints.

One test drives every way a key comes to exist (services, the CLI, the HTTP API), uses, rotates
and revokes keys, provokes the errors a key can cause, creates a user with a password, flushes
the request log, and then reads every row of every table and every captured log record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets as secrets_module
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

import botyard.models  # noqa: F401  (registers every table on Base.metadata)
from botyard.api_keys import service as keys
from botyard.audit.service import CLI_ACTOR
from botyard.cli import app as cli_app
from botyard.core import clock
from botyard.core.config import get_settings
from botyard.core.database import Base
from botyard.organizations import service as orgs
from botyard.users.models import User
from tests.factories import auth, make_key, make_org, make_user, unique

WINDOW = 10
"""A run of this many characters of a key's random part counts as a leak (a hint shows 4+4)."""


CLIENT_LOGGERS = ("httpx", "httpcore")
"""The test's own HTTP client logs the URLs it requests (keys in query strings included): that
is the caller's log, not Botyard's."""


def fragments(secret: str) -> set[str]:
    body = secret[4:] if secret.startswith("byk_") else secret
    return {body[i : i + WINDOW] for i in range(len(body) - WINDOW + 1)} | {secret}


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Which secrets (by hint) show up in ``text``, whole or as a long enough fragment."""
    return [f"{s[:8]}…{s[-4:]}" for s in secrets if any(part in text for part in fragments(s))]


class Cli:
    """The CLI run in-process against the app's database (in a thread: it owns its loop)."""

    def __init__(self, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BOTYARD_DATABASE_URL", database_url)
        monkeypatch.delenv("BOTYARD_REDIS_URL", raising=False)
        get_settings.cache_clear()
        self.runner = CliRunner()

    async def __call__(self, *args: str, input: str | None = None) -> str:
        result = await asyncio.to_thread(self.runner.invoke, cli_app, list(args), input=input)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout.strip()


def all_rows_as_text(rows_by_table: dict[str, list[dict[str, Any]]]) -> str:
    return json.dumps(rows_by_table, default=str, ensure_ascii=False)


async def read_every_table(app: FastAPI) -> dict[str, list[dict[str, Any]]]:
    everything: dict[str, list[dict[str, Any]]] = {}
    async with app.state.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(select(table))
            everything[table.name] = [dict(row._mapping) for row in result]
    return everything


async def test_no_key_or_password_is_stored_logged_or_echoed(
    app: FastAPI,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []
    echoed: list[str] = []  # every response body that must not contain a key

    async def call(method: str, url: str, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**(auth(key) if key else {}), **kw.pop("headers", {})}
        response = await client.request(method, url, headers=headers, **kw)
        echoed.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response

    org = await make_org(app, rate_limit=100_000)

    # Keys made through the services.
    read_row, read_key = await make_key(app, org, ["read"])
    _, admin_key = await make_key(app, org, ["admin"])
    _, expiring_key = await make_key(
        app, org, ["write"], expires_at=read_row.created_at + timedelta(seconds=1)
    )
    rotated_row, rotated_key = await make_key(app, org, ["read"], allowed_ips=["198.18.0.0/15"])
    secrets += [read_key, admin_key, expiring_key, rotated_key]
    async with app.state.sessionmaker() as session:
        organization = await orgs.get(session, org.id)
        old = await keys.get_key(session, org.id, rotated_row.id)
        _, successor_key = await keys.rotate(session, organization, old, CLI_ACTOR)
        await session.commit()
    secrets.append(successor_key)

    # Keys made with the CLI, in process.
    cli = Cli(app.state.settings.database_url, monkeypatch)
    try:
        cli_key = await cli(
            "keys", "create", "--org", org.id, "--name", unique("CLI"), "--scope", "write"
        )
        cli_expiring = await cli(
            "keys",
            "create",
            "--org",
            org.name,
            "--name",
            "x",
            "--scope",
            "read",
            "--expires-in",
            "90d",
        )
        secrets += [cli_key, cli_expiring]
        listed = json.loads(await cli("keys", "list", "--org", org.id, "--json"))
        echoed.append(json.dumps(listed))
        by_hint = {row["hint"]: row["id"] for row in listed}
        cli_rotated = await cli(
            "keys", "rotate", by_hint[f"{cli_key[:8]}…{cli_key[-4:]}"], "--grace", "0"
        )
        secrets.append(cli_rotated)
        await cli("keys", "revoke", by_hint[f"{cli_expiring[:8]}…{cli_expiring[-4:]}"])
        password = "pw-" + secrets_module.token_urlsafe(18)
        user_email = f"{unique('leak').replace(' ', '-')}@example.com"
        await cli(
            "users", "create", user_email, "--org", org.id, "--role", "admin", input=password + "\n"
        )
    finally:
        get_settings.cache_clear()
    service_password = "pw-" + secrets_module.token_urlsafe(18)
    await make_user(app, org, role="member", password=service_password)

    # Keys made over HTTP, with an Idempotency-Key so a stored replay would be caught too.
    created = await client.post(
        "/v1/api-keys",
        headers={**auth(admin_key), "Idempotency-Key": unique("idem").replace(" ", "-")},
        json={"name": "HTTP key", "scopes": ["read"]},
    )
    if created.status_code == 404:
        print("POST /v1/api-keys is not served yet: HTTP key creation not checked")
    else:
        assert created.status_code == 201, created.text
        http_key = created.json()["key"]
        http_id = created.json()["id"]
        secrets.append(http_key)
        assert (await call("GET", "/v1/me", http_key)).status_code == 200
        rotated = await client.post(
            f"/v1/api-keys/{http_id}/rotate",
            headers={**auth(admin_key), "Idempotency-Key": unique("idem").replace(" ", "-")},
            json={"grace_period": "1h"},
        )
        assert rotated.status_code == 201, rotated.text
        http_successor = rotated.json()["key"]
        secrets.append(http_successor)
        assert "key" not in rotated.json()["previous_key"]
        assert (await call("DELETE", f"/v1/api-keys/{http_id}", admin_key)).status_code == 200
        assert (await call("GET", "/v1/api-keys?limit=100", admin_key)).status_code == 200
        assert (await call("GET", f"/v1/api-keys/{http_id}", admin_key)).status_code == 200
        await call(
            "POST", "/v1/api-keys", admin_key, json={"name": http_successor, "scopes": ["nope"]}
        )
        await call(
            "POST",
            "/v1/api-keys",
            admin_key,
            json={"name": "x", "scopes": ["read"], "key": http_successor},
        )

    # Use, refuse and misuse keys.
    for key in (read_key, admin_key, successor_key, cli_rotated):
        assert (await call("GET", "/v1/bots", key)).status_code == 200
        assert (await call("GET", "/v1/me", key)).status_code == 200
    await call("GET", "/v1/bots", rotated_key)  # still in its grace period
    await call("GET", "/v1/api-keys", read_key)  # missing scope
    await call("GET", "/v1/bots", cli_key)  # revoked by rotation with grace 0
    await call("GET", "/v1/bots", cli_expiring)  # revoked
    frozen = clock.FrozenClock(clock.now() + timedelta(seconds=5))
    previous = clock.set_clock(frozen)
    try:
        await call("GET", "/v1/bots", expiring_key)  # expired
    finally:
        clock.set_clock(previous)
    mistyped = read_key[:20] + ("A" if read_key[20] != "A" else "B") + read_key[21:]
    for candidate in (
        read_key[:-1],
        read_key + "x",
        read_key[:21] + " " + read_key[21:],
        mistyped,
        read_key.lower(),
        "sk_" + read_key[3:],
    ):
        await call("GET", "/v1/bots", candidate)
    await call("GET", "/v1/bots", headers={"Authorization": f"Basic {read_key}"})
    await call("GET", "/v1/bots", headers={"Authorization": f"Bearer {read_key} {admin_key}"})
    await call("GET", "/v1/bots", headers={"Authorization": read_key})
    for param in ("api_key", "key", "token"):
        await call("GET", f"/v1/bots?{param}={admin_key}")
        await call("GET", f"/v1/me?{param}={read_key[:-2]}", read_key)
    await call("GET", f"/v1/nothing-here?api_key={read_key}")

    await app.state.request_log.flush()

    # Every row of every table.
    tables = await read_every_table(app)
    stored = all_rows_as_text(tables)
    passwords = [password, service_password]
    assert not leaks(stored, secrets), f"keys found in the database: {leaks(stored, secrets)}"
    assert not leaks(stored, passwords), "a password was found in the database"
    stored_hashes = {row["key_hash"] for row in tables["api_keys"]}
    stored_hints = {row["hint"] for row in tables["api_keys"]}
    for secret in secrets:
        assert hashlib.sha256(secret.encode()).hexdigest() in stored_hashes
        assert f"{secret[:8]}…{secret[-4:]}" in stored_hints
    async with app.state.sessionmaker() as session:
        user = (await session.scalars(select(User).where(User.email == user_email))).one()
    assert user.password_hash and user.password_hash.startswith("$argon2")
    assert any(row["organization_id"] == org.id for row in tables["request_logs"])
    if created.status_code != 404:
        # The key-bearing responses were kept for Idempotency-Key replays, yet hold no key.
        assert [r for r in tables["idempotency_records"] if r["organization_id"] == org.id]

    # Every log record of the whole test (setup included), message and arguments.
    records = [
        r
        for r in caplog.get_records("setup") + caplog.get_records("call")
        if not r.name.startswith(CLIENT_LOGGERS)
    ]
    assert records, "nothing was captured: the log check would be vacuous"
    leaked = [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in records
        if leaks(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}", secrets + passwords)
    ]
    assert not leaked, "secrets in the logs:\n" + "\n".join(leaked)

    # Every response after creation (errors, lists, the CLI's list).
    echoing = [text[:600] for text in echoed if leaks(text, secrets)]
    assert not echoing, "keys echoed in responses:\n" + "\n".join(echoing)
