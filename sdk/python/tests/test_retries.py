"""Retries: which answers, how long between them (clock and jitter injected, nothing sleeps),
Retry-After, and one Idempotency-Key across every attempt of a POST."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from botyard_sdk import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConflictError,
    RateLimitError,
    ValidationError,
)
from sdk_support import Script, Sleeps, async_client, bot_json, envelope, sync_client

OK = httpx.Response(200, json=bot_json())
CREATED = httpx.Response(201, json=bot_json())


def unavailable() -> httpx.Response:
    return envelope(503, "service_unavailable", "Database unavailable.", type="api_error")


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(status: int) -> None:
    script = Script(envelope(status, "transient", "Try again."), OK)
    sleeps = Sleeps()
    with sync_client(script, sleeps, jitter=lambda: 1.0) as client:
        bot = client.bots.retrieve("bot_1")
    assert bot.id == "bot_1"
    assert len(script.requests) == 2
    assert sleeps == [0.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    script = Script(envelope(status, "nope", "No."), OK)
    sleeps = Sleeps()
    with sync_client(script, sleeps) as client, pytest.raises(APIError) as raised:
        client.bots.retrieve("bot_1")
    assert raised.value.status == status
    assert len(script.requests) == 1
    assert sleeps == []


def test_backoff_doubles_from_half_a_second_with_full_jitter_and_is_capped() -> None:
    script = Script(unavailable())
    sleeps = Sleeps()
    with (
        sync_client(script, sleeps, max_retries=6, jitter=lambda: 1.0) as client,
        pytest.raises(APIError) as raised,
    ):
        client.bots.list().first_page()
    assert raised.value.status == 503
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(script.requests) == 7

    jittered = Sleeps()
    draws = iter([0.25, 0.5, 0.0])
    with (
        sync_client(
            Script(unavailable()), jittered, max_retries=3, jitter=lambda: next(draws)
        ) as client,
        pytest.raises(APIError),
    ):
        client.me()
    assert jittered == [0.125, 0.5, 0.0]


def test_default_is_two_retries_and_zero_turns_them_off() -> None:
    script = Script(unavailable())
    with sync_client(script) as client, pytest.raises(APIError):
        client.bots.retrieve("bot_1")
    assert len(script.requests) == 3

    once = Script(unavailable())
    with sync_client(once, max_retries=0) as client, pytest.raises(APIError):
        client.bots.retrieve("bot_1")
    assert len(once.requests) == 1

    with pytest.raises(ValueError, match="max_retries"):
        sync_client(once, max_retries=-1)


def test_retry_after_seconds_are_honoured_instead_of_backoff() -> None:
    limited = envelope(
        429,
        "rate_limit_exceeded",
        "Slow down.",
        type="rate_limit_exceeded",
        headers={"Retry-After": "7"},
    )
    script = Script(limited, OK)
    sleeps = Sleeps()
    with sync_client(script, sleeps, jitter=lambda: 1.0) as client:
        assert client.bots.retrieve("bot_1").id == "bot_1"
    assert sleeps == [7.0]


def test_retry_after_as_an_http_date_is_measured_with_the_injected_clock() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    script = Script(envelope(503, "busy", "Busy.", headers={"Retry-After": later}), OK)
    sleeps = Sleeps()
    with sync_client(script, sleeps, clock=now.timestamp) as client:
        client.bots.retrieve("bot_1")
    assert sleeps == [30.0]


def test_a_retry_after_beyond_a_minute_raises_at_once_with_retry_after() -> None:
    limited = envelope(
        429,
        "rate_limit_exceeded",
        "Hourly limit reached.",
        type="rate_limit_exceeded",
        headers={"Retry-After": "61"},
    )
    script = Script(limited, OK)
    sleeps = Sleeps()
    with sync_client(script, sleeps) as client, pytest.raises(RateLimitError) as raised:
        client.bots.retrieve("bot_1")
    assert raised.value.retry_after == 61.0
    assert raised.value.status == 429
    assert raised.value.code == "rate_limit_exceeded"
    assert len(script.requests) == 1
    assert sleeps == []

    at_limit = envelope(429, "rate_limit_exceeded", "Wait.", headers={"Retry-After": "60"})
    sleeps.clear()
    with sync_client(Script(at_limit, OK), sleeps) as client:
        client.bots.retrieve("bot_1")
    assert sleeps == [60.0]


def test_exhausted_retries_raise_the_last_error_with_its_retry_after() -> None:
    limited = envelope(429, "rate_limit_exceeded", "Wait.", headers={"Retry-After": "2"})
    script = Script(limited)
    sleeps = Sleeps()
    with sync_client(script, sleeps) as client, pytest.raises(RateLimitError) as raised:
        client.bots.retrieve("bot_1")
    assert raised.value.retry_after == 2.0
    assert sleeps == [2.0, 2.0]


def test_every_attempt_of_a_post_carries_the_same_idempotency_key() -> None:
    in_progress = envelope(409, "idempotency_request_in_progress", "Still running.")
    script = Script(httpx.ReadError("connection reset"), unavailable(), in_progress, CREATED)
    with sync_client(script, max_retries=3, jitter=lambda: 0.0) as client:
        bot = client.bots.create(name="Support")
    assert bot.id == "bot_1"
    keys = [r.headers["idempotency-key"] for r in script.requests]
    assert len(keys) == 4 and len(set(keys)) == 1
    assert all(r.content == script.requests[0].content for r in script.requests)

    with sync_client(Script(CREATED)) as client:
        client.bots.create(name="One")
        client.bots.create(name="Two")
    assert keys[0] not in {r.headers["idempotency-key"] for r in script.requests[4:]}


def test_each_post_gets_its_own_uuid4_key_and_other_methods_none() -> None:
    script = Script(CREATED)
    with sync_client(script) as client:
        client.bots.create(name="One")
        client.bots.create(name="Two")
        client.bots.update("bot_1", name="Three")
        client.bots.retrieve("bot_1")
    first, second, patch, get = script.requests
    assert uuid.UUID(first.headers["idempotency-key"]).version == 4
    assert first.headers["idempotency-key"] != second.headers["idempotency-key"]
    assert "idempotency-key" not in patch.headers
    assert "idempotency-key" not in get.headers


def test_connection_errors_are_retried_then_raised_as_api_connection_error() -> None:
    script = Script(httpx.ConnectError("connection refused"))
    sleeps = Sleeps()
    with (
        sync_client(script, sleeps, jitter=lambda: 1.0) as client,
        pytest.raises(APIConnectionError) as raised,
    ):
        client.bots.retrieve("bot_1")
    assert len(script.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert raised.value.status is None
    assert not isinstance(raised.value, APITimeoutError)
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_timeouts_raise_api_timeout_error() -> None:
    script = Script(httpx.ReadTimeout("timed out"))
    with sync_client(script, max_retries=1) as client, pytest.raises(APITimeoutError):
        client.bots.retrieve("bot_1")
    assert len(script.requests) == 2


def test_a_business_conflict_is_raised_after_the_retries() -> None:
    last_owner = envelope(409, "last_owner", "The last owner cannot be demoted.", type="conflict")
    script = Script(last_owner)
    with sync_client(script, jitter=lambda: 0.0) as client, pytest.raises(ConflictError) as raised:
        client.team.members.update("usr_1", role="member")
    assert raised.value.code == "last_owner"
    assert len(script.requests) == 3


async def test_the_async_client_retries_the_same_way() -> None:
    limited = envelope(429, "rate_limit_exceeded", "Wait.", headers={"Retry-After": "3"})
    script = Script(httpx.ConnectError("refused"), limited, CREATED)
    sleeps = Sleeps()
    async with async_client(script, sleeps, jitter=lambda: 1.0) as client:
        bot = await client.bots.create(name="Support")
    assert bot.id == "bot_1"
    assert sleeps == [0.5, 3.0]
    assert len({r.headers["idempotency-key"] for r in script.requests}) == 1

    refused = Script(envelope(422, "validation_error", "name is required", param="name"))
    async with async_client(refused) as client:
        with pytest.raises(ValidationError) as raised:
            await client.bots.create(name="")
    assert raised.value.param == "name"
    assert len(refused.requests) == 1
