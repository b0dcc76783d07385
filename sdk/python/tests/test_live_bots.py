"""Bots, their settings and knowledge through the SDK against a real ``botyard serve``, on
SQLite and PostgreSQL: every method, pagination by cursor, and conditional GETs."""

from __future__ import annotations

import pytest

from botyard_sdk import NotFoundError, ValidationError
from botyard_sdk.types import Bot, BotSettings, KnowledgeEntry
from live_support import Exchanges, Org

pytestmark = pytest.mark.slow


def test_bots_are_created_listed_retrieved_updated_and_deleted(org: Org) -> None:
    with org.client() as client:
        bot = client.bots.create(name="Support", description="Answers customers")
        assert isinstance(bot, Bot)
        assert bot.id.startswith("bot_") and bot.status == "active"
        assert bot.created_at.tzinfo is not None

        assert client.bots.retrieve(bot.id) == bot
        assert bot.id in {listed.id for listed in client.bots.list()}

        paused = client.bots.update(bot.id, status="paused", name="Support (paused)")
        assert (paused.status, paused.name, paused.description) == (
            "paused",
            "Support (paused)",
            "Answers customers",
        )
        assert client.bots.retrieve(bot.id).status == "paused"

        deleted = client.bots.delete(bot.id)
        assert (deleted.id, deleted.object, deleted.deleted) == (bot.id, "bot", True)
        with pytest.raises(NotFoundError) as missing:
            client.bots.retrieve(bot.id)
    assert missing.value.status == 404 and missing.value.request_id


def test_settings_are_read_and_changed_one_field_at_a_time(org: Org) -> None:
    with org.client() as client:
        bot = client.bots.create(name="Settings", welcome_message="Hello!", answer_threshold=0.4)
        settings = client.bots.settings.retrieve(bot.id)
        assert isinstance(settings, BotSettings)
        assert (settings.bot_id, settings.welcome_message, settings.answer_threshold) == (
            bot.id,
            "Hello!",
            0.4,
        )
        changed = client.bots.settings.update(bot.id, fallback_message="Ask a human.")
        assert changed.fallback_message == "Ask a human."
        assert changed.welcome_message == "Hello!"
        assert client.bots.settings.retrieve(bot.id) == changed


def test_knowledge_entries_are_managed_on_their_bot(org: Org) -> None:
    with org.client() as client:
        bot = client.bots.create(name="Knowledge")
        entry = client.bots.knowledge.create(
            bot.id, question="How do I reset my password?", answer="Use the link.", tags=["auth"]
        )
        assert isinstance(entry, KnowledgeEntry)
        assert (entry.bot_id, entry.tags) == (bot.id, ("auth",))
        assert client.bots.knowledge.retrieve(bot.id, entry.id) == entry

        updated = client.bots.knowledge.update(bot.id, entry.id, tags=["auth", "account"])
        assert updated.tags == ("auth", "account") and updated.answer == "Use the link."

        assert [e.id for e in client.bots.knowledge.list(bot.id)] == [entry.id]
        assert client.bots.knowledge.delete(bot.id, entry.id).deleted is True
        assert list(client.bots.knowledge.list(bot.id)) == []


def test_iterating_a_list_walks_every_page_by_cursor(org: Org) -> None:
    exchanges = Exchanges()
    with org.client(exchanges=exchanges) as client:
        bot = client.bots.create(name="Paged")
        created = [
            client.bots.knowledge.create(bot.id, question=f"Question {n}?", answer=f"Answer {n}")
            for n in range(5)
        ]
        exchanges.seen.clear()

        first = client.bots.knowledge.list(bot.id, limit=2).first_page()
        assert len(first.data) == 2 and first.has_more and first.next_cursor
        walked = list(client.bots.knowledge.list(bot.id, limit=2))
        resumed = list(client.bots.knowledge.list(bot.id, limit=2, cursor=first.next_cursor))

    assert sorted(e.id for e in walked) == sorted(e.id for e in created)
    assert len({e.id for e in walked}) == 5
    assert resumed == walked[2:]
    pages = [path for _, path, _ in exchanges.seen]
    assert pages == [f"/v1/bots/{bot.id}/knowledge"] * (1 + 3 + 2)


def test_a_second_retrieve_is_a_304_that_reuses_the_cached_object(org: Org) -> None:
    exchanges = Exchanges()
    with org.client(exchanges=exchanges) as client:
        bot = client.bots.create(name="Cached")
        first = client.bots.retrieve(bot.id)
        used = client.rate_limit().rate_limit.used
        second = client.bots.retrieve(bot.id)
        assert client.rate_limit().rate_limit.used == used, "a 304 is not counted"
        client.bots.update(bot.id, name="Renamed")
        third = client.bots.retrieve(bot.id)
    retrieve = ("GET", f"/v1/bots/{bot.id}")
    statuses = [status for method, path, status in exchanges.seen if (method, path) == retrieve]
    assert statuses == [200, 304, 200]
    assert second == first and third.name == "Renamed"


def test_bad_input_is_a_validation_error_naming_the_field(org: Org) -> None:
    with org.client() as client, pytest.raises(ValidationError) as raised:
        client.bots.create(name="Threshold", answer_threshold=7.0)
    error = raised.value
    assert error.status == 422 and error.param and "answer_threshold" in error.param
    assert error.code and error.message and error.request_id
