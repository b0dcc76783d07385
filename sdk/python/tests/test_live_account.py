"""The account, errors, rate limits, idempotent retries and the async client, through the
SDK against a real ``botyard serve`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest

from botyard_sdk import (
    AuthenticationError,
    Botyard,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from botyard_sdk.types import Me
from live_support import Exchanges, Org
from sdk_support import Sleeps

pytestmark = pytest.mark.slow


def test_me_and_rate_limit_describe_the_key_and_its_budget(org: Org) -> None:
    with org.client() as client:
        me = client.me()
        status = client.rate_limit()
    assert isinstance(me, Me)
    assert (me.organization.id, me.organization.name) == (org.id, org.name)
    assert (me.organization.plan, me.organization.api_access) == ("professional", True)
    assert (
        me.key.scopes == ("admin",) and me.key.hint == f"{org.admin_key[:8]}…{org.admin_key[-4:]}"
    )
    assert status.rate_limit.limit == me.rate_limit.limit
    assert status.rate_limit.used >= 1 and status.rate_limit.reset_at.tzinfo is not None


def test_the_key_and_server_come_from_the_environment(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTYARD_API_KEY", org.admin_key)
    monkeypatch.setenv("BOTYARD_BASE_URL", org.server.url + "/v1/")
    with Botyard() as client:
        assert client.me().organization.id == org.id
        assert org.admin_key not in repr(client)


def test_invalid_api_key_and_insufficient_permissions_are_told_apart(org: Org) -> None:
    mistyped = org.admin_key[:-1] + ("A" if org.admin_key[-1] != "A" else "B")
    with org.client(mistyped) as client, pytest.raises(AuthenticationError) as invalid:
        client.me()
    assert (invalid.value.status, invalid.value.code) == (401, "malformed_api_key")
    assert invalid.value.message.startswith("Invalid API Key:")
    assert mistyped not in str(invalid.value) and mistyped not in repr(invalid.value)

    with org.client(org.key("read")) as reader:
        assert reader.bots.list().first_page().data is not None
        with pytest.raises(PermissionDeniedError) as denied:
            reader.bots.create(name="Not allowed")
    assert (denied.value.status, denied.value.code) == (403, "missing_scope")
    assert denied.value.message.startswith("Insufficient Permissions:")
    assert denied.value.request_id and denied.value.request_id.startswith("req_")


def test_another_organizations_object_is_not_found(org: Org, fresh_org: Org) -> None:
    with org.client() as mine, fresh_org.client() as theirs:
        bot = theirs.bots.create(name="Theirs")
        with pytest.raises(NotFoundError):
            mine.bots.retrieve(bot.id)


def test_an_hourly_limit_spent_raises_at_once_with_retry_after(fresh_org: Org) -> None:
    fresh_org.server.cli.ok("orgs", "set-rate-limit", fresh_org.id, "2")
    sleeps = Sleeps()
    exchanges = Exchanges()
    with fresh_org.client(sleeps=sleeps, exchanges=exchanges) as client:
        client.me()
        client.me()
        with pytest.raises(RateLimitError) as limited:
            client.me()
    assert limited.value.status == 429
    assert limited.value.retry_after is not None and 60 < limited.value.retry_after <= 3600
    assert sleeps == [], "a wait beyond a minute is the caller's to schedule"
    assert [status for _, _, status in exchanges.seen] == [200, 200, 429]


class LoseFirstAnswer(httpx.BaseTransport):
    """Sends every request to the server, but loses the answer to the first POST on the way
    back, as a dropped connection would: the server acted, the client never heard."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost: list[httpx.Response] = []
        self.keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method != "POST":
            return response
        self.keys.append(request.headers["idempotency-key"])
        if self.lost:
            return response
        response.read()
        self.lost.append(response)
        raise httpx.ReadError("connection reset by peer", request=request)

    def close(self) -> None:
        self.inner.close()


def test_a_post_retried_after_a_lost_answer_acts_once(org: Org) -> None:
    transport = LoseFirstAnswer()
    sleeps = Sleeps()
    with org.client(transport=transport, sleeps=sleeps) as client:
        bot = client.bots.create(name="Created once")
        same_name = [b.id for b in client.bots.list(limit=100) if b.name == "Created once"]
    (lost,) = transport.lost
    assert lost.status_code == 201
    assert bot.id == json.loads(lost.content)["id"]
    assert same_name == [bot.id]
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    assert len(sleeps) == 1


async def test_the_async_client_does_the_same_with_await(org: Org) -> None:
    async with org.async_client() as client:
        me = await client.me()
        bot = await client.bots.create(name="Async")
        await client.bots.knowledge.create(bot.id, question="What are your hours?", answer="9-5")
        listed = [b.id async for b in client.bots.list(limit=1)]
        conversation = await client.conversations.create(bot.id)
        exchange = await client.conversations.send(conversation.id, "what are your hours")
        messages = [m async for m in client.conversations.messages.list(conversation.id)]
        first = await client.bots.retrieve(bot.id)
        again = await client.bots.retrieve(bot.id)
        with pytest.raises(NotFoundError):
            await client.bots.retrieve("bot_doesnotexist")
    assert me.organization.id == org.id
    assert bot.id in listed
    assert exchange.reply.answer_source == "knowledge" and exchange.reply.text == "9-5"
    assert len(messages) == 3
    assert again == first == bot
