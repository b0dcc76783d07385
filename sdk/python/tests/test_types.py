"""Response objects: frozen, typed, and tolerant of fields a newer server adds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from botyard_sdk.types import Analytics, Bot, Exchange
from sdk_support import bot_json


def message(role: str, **extra: object) -> dict[str, object]:
    return {
        "object": "message",
        "id": f"msg_{role}",
        "conversation_id": "conv_1",
        "role": role,
        "text": "hi",
        "answer_source": None if role == "user" else "knowledge",
        "knowledge_id": None,
        "score": 2 if role == "bot" else None,
        "created_at": "2026-05-01T12:00:00.123456Z",
        **extra,
    }


def test_unknown_fields_are_kept_not_refused_at_every_level() -> None:
    exchange = Exchange.from_api(
        {
            "object": "exchange",
            "conversation_id": "conv_1",
            "message": message("user"),
            "reply": message("bot", sentiment="happy"),
            "latency_ms": 12,
        }
    )
    assert exchange.extra_fields == {"latency_ms": 12}
    assert exchange.reply.extra_fields == {"sentiment": "happy"}
    assert exchange.message.extra_fields == {}


def test_values_are_converted_to_their_annotated_types() -> None:
    bot = Bot.from_api(bot_json())
    assert bot.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    reply = Exchange.from_api(
        {"conversation_id": "c", "message": message("user"), "reply": message("bot")}
    ).reply
    assert reply.score == 2.0 and isinstance(reply.score, float)
    assert reply.created_at.microsecond == 123456


def test_a_status_the_client_does_not_know_yet_still_parses() -> None:
    assert Bot.from_api(bot_json(status="archived")).status == "archived"


def test_json_keys_that_are_python_keywords_are_renamed() -> None:
    totals = {
        "conversations": 1,
        "user_messages": 2,
        "bot_messages": 2,
        "unique_end_users": 1,
        "answered_rate": 0.5,
        "fallback_rate": 0.5,
        "messages_per_conversation": 4.0,
    }
    analytics = Analytics.from_api(
        {
            "object": "analytics",
            "bot_id": None,
            "from": "2026-05-01T00:00:00Z",
            "to": "2026-05-02T00:00:00Z",
            "interval": "day",
            "totals": totals,
            "series": [{**totals, "start": "2026-05-01T00:00:00Z", "end": "2026-05-02T00:00:00Z"}],
        }
    )
    assert analytics.from_ == datetime(2026, 5, 1, tzinfo=UTC)
    assert analytics.series[0].end == datetime(2026, 5, 2, tzinfo=UTC)
    assert "from" not in analytics.extra_fields


def test_objects_are_frozen_and_compare_by_value() -> None:
    bot = Bot.from_api(bot_json())
    with pytest.raises(dataclasses.FrozenInstanceError):
        bot.name = "Other"  # type: ignore[misc]
    assert Bot.from_api(bot_json(new_field=1)) == bot


def test_a_non_object_answer_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="Bot expects a JSON object"):
        Bot.from_api(["not", "an", "object"])
