"""Conversations, messages and analytics through the SDK against a real ``botyard serve``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from botyard_sdk import ConflictError
from botyard_sdk.types import ConversationStarted, Exchange
from live_support import Org

pytestmark = pytest.mark.slow

QUESTION = "How do I reset my password?"


def test_a_conversation_is_started_chatted_in_read_and_closed(org: Org) -> None:
    with org.client() as client:
        bot = client.bots.create(
            name="Helpdesk", welcome_message="Hi there!", fallback_message="Ask a human."
        )
        entry = client.bots.knowledge.create(
            bot.id, question=QUESTION, answer="Use the reset link on the login page."
        )
        started = client.conversations.create(bot.id, external_user_id="customer-42")
        assert isinstance(started, ConversationStarted)
        assert (started.bot_id, started.status, started.external_user_id) == (
            bot.id,
            "open",
            "customer-42",
        )
        (welcome,) = started.messages
        assert (welcome.role, welcome.text, welcome.answer_source) == (
            "bot",
            "Hi there!",
            "welcome",
        )

        answered = client.conversations.send(started.id, "how can I reset my password")
        assert isinstance(answered, Exchange)
        assert (answered.message.role, answered.message.text) == (
            "user",
            "how can I reset my password",
        )
        assert (answered.reply.answer_source, answered.reply.knowledge_id) == (
            "knowledge",
            entry.id,
        )
        assert answered.reply.text == entry.answer and answered.reply.score is not None

        unanswered = client.conversations.send(started.id, "Do you ship penguins to Mars?")
        assert (unanswered.reply.answer_source, unanswered.reply.text) == (
            "fallback",
            "Ask a human.",
        )

        messages = list(client.conversations.messages.list(started.id, limit=2))
        assert [m.id for m in messages] == [
            welcome.id,
            answered.message.id,
            answered.reply.id,
            unanswered.message.id,
            unanswered.reply.id,
        ]
        assert client.conversations.retrieve(started.id).id == started.id
        open_ids = {c.id for c in client.conversations.list(bot_id=bot.id, status="open")}
        assert open_ids == {started.id}

        closed = client.conversations.close(started.id)
        assert closed.status == "closed" and closed.closed_at is not None
        assert [c.id for c in client.conversations.list(bot_id=bot.id, status="closed")] == [
            started.id
        ]
        assert list(client.conversations.list(bot_id=bot.id, status="open")) == []
        later = datetime.now(UTC) + timedelta(hours=1)
        assert list(client.conversations.list(bot_id=bot.id, since=later)) == []


def test_analytics_count_a_bots_conversations_and_answers(org: Org) -> None:
    with org.client() as client:
        bot = client.bots.create(name="Counted")
        client.bots.knowledge.create(bot.id, question=QUESTION, answer="Use the link.")
        for user in ("ana", "ben"):
            conversation = client.conversations.create(bot.id, external_user_id=user)
            client.conversations.send(conversation.id, QUESTION)
            client.conversations.send(conversation.id, "Unrelated gibberish about volcanoes")
        now = datetime.now(UTC)
        analytics = client.analytics.retrieve(
            bot_id=bot.id,
            from_=now - timedelta(hours=2),
            to=now + timedelta(hours=1),
            interval="hour",
        )
    totals = analytics.totals
    assert (analytics.bot_id, analytics.interval) == (bot.id, "hour")
    assert (totals.conversations, totals.user_messages, totals.unique_end_users) == (2, 4, 2)
    assert totals.answered_rate == pytest.approx(0.5)
    assert totals.fallback_rate == pytest.approx(0.5)
    assert sum(point.conversations for point in analytics.series) == 2
    assert analytics.from_ < analytics.to


def test_a_paused_bot_refuses_conversations_with_a_conflict(org: Org) -> None:
    with org.client(max_retries=0) as client:
        bot = client.bots.create(name="Paused", status="paused")
        with pytest.raises(ConflictError) as raised:
            client.conversations.create(bot.id)
    assert (raised.value.status, raised.value.code) == (409, "bot_paused")
