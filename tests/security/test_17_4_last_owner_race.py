"""Issue 17.4: two owners demoting or removing each other at the same moment leave an owner.

Each trial signs two owners of one organization in to the dashboard (API keys act as admins
and cannot touch owners), then sends both requests at once with ``asyncio.gather``; whatever
the interleaving, exactly one succeeds and one owner remains. Before the fix, SQLite left no
owner in every trial.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import fresh_ip
from tests.dashboard.helpers import login
from tests.factories import auth, make_key, make_org, make_user

TEAM = "/dashboard/settings/team"
TRIALS = 6


@asynccontextmanager
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(fresh_ip(), 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def demote(user_id: str) -> tuple[str, dict[str, str]]:
    return f"{TEAM}/members/{user_id}/role", {"role": "admin"}


def remove(user_id: str) -> tuple[str, dict[str, str]]:
    return f"{TEAM}/members/{user_id}/remove", {}


@pytest.mark.parametrize(
    ("first", "second"),
    [(demote, demote), (remove, remove), (demote, remove)],
    ids=["demote-demote", "remove-remove", "demote-remove"],
)
async def test_two_owners_acting_on_each_other_at_once_leave_an_owner(
    app: FastAPI, first: object, second: object
) -> None:
    for _ in range(TRIALS):
        org = await make_org(app)
        _, admin_key = await make_key(app, org, ["admin"])
        alice = await make_user(app, org, "owner")
        bob = await make_user(app, org, "owner")
        async with browser(app) as as_alice, browser(app) as as_bob:
            alice_csrf = await login(as_alice, alice)
            bob_csrf = await login(as_bob, bob)
            alice_url, alice_form = first(bob.id)  # type: ignore[operator]
            bob_url, bob_form = second(alice.id)  # type: ignore[operator]
            answers = await asyncio.gather(
                as_alice.post(alice_url, data={**alice_form, "csrf_token": alice_csrf}),
                as_bob.post(bob_url, data={**bob_form, "csrf_token": bob_csrf}),
            )
        # One wins; the other is refused as the last owner (409), or, when it started after
        # the winner's change, as an owner no longer (403).
        winner, loser = sorted(answers, key=lambda a: a.status_code)
        assert winner.status_code == 303, winner.text[:300]
        assert loser.status_code in (403, 409), loser.text[:300]
        if loser.status_code == 409:
            assert "only owner" in loser.text

        async with browser(app) as api:
            members = await api.get("/v1/team/members", headers=auth(admin_key))
        assert members.status_code == 200, members.text
        owners = [m for m in members.json()["data"] if m["role"] == "owner"]
        assert len(owners) == 1, members.json()["data"]
