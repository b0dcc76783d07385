"""Signing in and posting forms the way a browser does, for the dashboard's HTTP tests."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey
from botyard.organizations.models import Organization
from botyard.users.models import User

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
KEY_PATTERN = re.compile(r"byk_[0-9A-Za-z]{38}")


def csrf_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def login(client: httpx.AsyncClient, user: User, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    form = await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login",
        data={"email": user.email, "password": password, "csrf_token": csrf_of(form.text)},
    )
    assert response.status_code == 303, response.text
    page = await client.get("/dashboard/bots")
    assert page.status_code == 200
    return csrf_of(page.text)


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


async def keys_of(app: FastAPI, org: Organization) -> list[ApiKey]:
    async with app.state.sessionmaker() as session:
        rows, _, _ = await keys.list_keys(session, org.id, limit=100)
        return rows
