"""Issue 17.7 and 16.14: sign-in limits per (account, address) pair, and a higher per address.

Before the fix, ten bad passwords for an email locked it for everyone for 15 minutes (anyone
could keep any account locked), and six from one address locked every account behind it (a
whole office behind one NAT address).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from botyard.core.clock import FrozenClock
from botyard.dashboard import sessions
from botyard.dashboard.sessions import ADDRESS_LIMIT, LOGIN_ATTEMPTS, PAIR_LIMITS, SESSION_COOKIE
from botyard.users.models import User
from tests.dashboard.helpers import PASSWORD, csrf_of, set_cookie_headers
from tests.factories import make_org, make_user, unique
from tests.ratelimit.test_http_limits import (  # noqa: F401 (the fixture)
    LimiterBackend,
    limiter_backend,
    running_app,
)


@asynccontextmanager
async def browser_at(app: FastAPI, ip: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client from ``ip`` with its login form's CSRF token."""
    transport = httpx.ASGITransport(app=app, client=(ip, 43000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = csrf_of((await client.get("/dashboard/login")).text)
        yield client, token


async def sign_in(
    browser: tuple[httpx.AsyncClient, str], email: str, password: str
) -> httpx.Response:
    client, token = browser
    return await client.post(
        "/dashboard/login", data={"email": email, "password": password, "csrf_token": token}
    )


async def fail(browser: tuple[httpx.AsyncClient, str], user: User, times: int) -> list[int]:
    return [(await sign_in(browser, user.email, f"wrong {i}")).status_code for i in range(times)]


async def test_an_attacker_elsewhere_locks_nothing_for_the_real_user(app: FastAPI) -> None:
    victim = await make_user(app, await make_org(app))
    async with browser_at(app, "198.19.1.1") as attacker:
        statuses = await fail(attacker, victim, 3 * LOGIN_ATTEMPTS)
        assert statuses[:LOGIN_ATTEMPTS] == [401] * LOGIN_ATTEMPTS
        assert set(statuses[LOGIN_ATTEMPTS:]) == {429}
        # The attacker is locked out even with the right password...
        locked = await sign_in(attacker, victim.email, PASSWORD)
        assert locked.status_code == 429
        assert not set_cookie_headers(locked, SESSION_COOKIE)
    # ...while the owner, from an address that did not fail, gets in at once.
    async with browser_at(app, "198.19.1.2") as owner:
        typo = await sign_in(owner, victim.email, "a typo in it")
        assert typo.status_code == 401
        signed_in = await sign_in(owner, victim.email, PASSWORD)
        assert signed_in.status_code == 303
        assert set_cookie_headers(signed_in, SESSION_COOKIE)


async def test_one_accounts_failures_behind_a_nat_do_not_lock_its_colleagues(
    app: FastAPI,
) -> None:
    org = await make_org(app)
    forgetful, colleague = await make_user(app, org, "member"), await make_user(app, org, "admin")
    async with browser_at(app, "198.19.2.1") as office:
        assert await fail(office, forgetful, LOGIN_ATTEMPTS) == [401] * LOGIN_ATTEMPTS
        assert (await sign_in(office, forgetful.email, PASSWORD)).status_code == 429
        other = await sign_in(office, colleague.email, PASSWORD)
        assert other.status_code == 303
        assert set_cookie_headers(other, SESSION_COOKIE)


async def test_repeated_lockouts_back_off(app: FastAPI, frozen_clock: FrozenClock) -> None:
    user = await make_user(app, await make_org(app))
    short, medium = PAIR_LIMITS[-1], PAIR_LIMITS[-2]
    async with browser_at(app, "198.19.3.1") as guesser:
        assert set(await fail(guesser, user, short.attempts)) == {401}
        first = await sign_in(guesser, user.email, "wrong again")
        assert first.status_code == 429
        assert int(first.headers["retry-after"]) <= short.window
        frozen_clock.advance(timedelta(seconds=short.window + 1))
        remaining = medium.attempts - short.attempts
        assert set(await fail(guesser, user, remaining)) == {401}
        second = await sign_in(guesser, user.email, "wrong again")
        assert second.status_code == 429
        # The second lockout lasts until the quarter-hour window ends, far longer.
        assert int(second.headers["retry-after"]) > 10 * short.window
        frozen_clock.advance(timedelta(seconds=medium.window))
        assert (await sign_in(guesser, user.email, PASSWORD)).status_code == 303


async def test_a_successful_sign_in_clears_the_pairs_failures(app: FastAPI) -> None:
    user = await make_user(app, await make_org(app))
    for _ in range(3):
        async with browser_at(app, "198.19.4.1") as owner:
            assert set(await fail(owner, user, LOGIN_ATTEMPTS - 1)) == {401}
            assert (await sign_in(owner, user.email, PASSWORD)).status_code == 303


async def test_one_address_spraying_many_accounts_hits_the_higher_address_limit(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ADDRESS_LIMIT.attempts > max(limit.attempts for limit in PAIR_LIMITS)
    # The real limit (100) is the same code path; a smaller one spares the test 100 Argon2
    # verifications, each a deliberate fraction of a second.
    small = sessions.LoginLimit(
        max(limit.attempts for limit in PAIR_LIMITS) + 1, ADDRESS_LIMIT.window
    )
    monkeypatch.setattr(sessions, "ADDRESS_LIMIT", small)
    user = await make_user(app, await make_org(app))
    async with browser_at(app, "198.19.5.1") as sprayer:
        for _ in range(small.attempts):
            email = unique("spray").replace(" ", "-") + "@example.com"
            assert (await sign_in(sprayer, email, "password123")).status_code == 401
        refused = await sign_in(sprayer, user.email, PASSWORD)
        assert refused.status_code == 429
        assert "from your address" in refused.text
    async with browser_at(app, "198.19.5.2") as elsewhere:
        assert (await sign_in(elsewhere, user.email, PASSWORD)).status_code == 303


async def test_the_pair_limit_holds_across_processes(
    database_url: str,
    limiter_backend: LimiterBackend,  # noqa: F811
) -> None:
    """Two app instances sharing one limiter (Redis in production) count the same failures."""
    async with (
        running_app(database_url, limiter_backend.limiter()) as first,
        running_app(database_url, limiter_backend.limiter()) as second,
    ):
        shared = limiter_backend.name == "redis"
        user = await make_user(first, await make_org(first))
        async with browser_at(first, "198.19.6.1") as one, browser_at(second, "198.19.6.1") as two:
            half = LOGIN_ATTEMPTS // 2
            assert set(await fail(one, user, half)) == {401}
            assert set(await fail(two, user, LOGIN_ATTEMPTS - half)) == {401}
            on_second = await sign_in(two, user.email, PASSWORD)
            on_first = await sign_in(one, user.email, PASSWORD)
        if shared:
            assert (on_first.status_code, on_second.status_code) == (429, 429)
        else:  # without a shared store each process counts on its own
            assert on_second.status_code == 303
        async with browser_at(second, "198.19.6.2") as owner:
            assert (await sign_in(owner, user.email, PASSWORD)).status_code == 303
