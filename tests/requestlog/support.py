"""Helpers for request-log tests: a fresh app with its own lifespan, and seeded log rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from botyard.core.ids import new_id
from botyard.main import create_app
from botyard.requestlog.models import RequestLog
from tests.conftest import make_settings


@asynccontextmanager
async def running_app(database_url: str, **settings: Any) -> AsyncIterator[FastAPI]:
    """An app whose lifespan ends (flushing the request log) when the block exits."""
    app = create_app(make_settings(database_url, **settings))
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_from(app: FastAPI, ip: str, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 41000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as c:
        yield c


def log_row(
    organization_id: str | None,
    at: datetime,
    *,
    key_id: str | None = None,
    status: int = 200,
    route: str = "/v1/me",
    method: str = "GET",
    error_code: str | None = None,
    ip: str = "192.0.2.1",
) -> dict[str, Any]:
    return {
        "id": new_id("log"),
        "created_at": at,
        "organization_id": organization_id,
        "key_id": key_id,
        "method": method,
        "route": route,
        "status": status,
        "error_code": error_code,
        "latency_ms": 1.5,
        "ip": ip,
        "user_agent": "seed",
        "request_id": new_id("req"),
    }


async def seed_logs(app: FastAPI, rows: list[dict[str, Any]]) -> None:
    async with app.state.sessionmaker() as session:
        await session.execute(insert(RequestLog), rows)
        await session.commit()
