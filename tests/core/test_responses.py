"""RowJSON writes exactly what pydantic writes for the same row, or refuses the model."""

from __future__ import annotations

import json
from collections import namedtuple
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, Field

from botyard.bots.schemas import (
    BOT_JSON,
    KNOWLEDGE_JSON,
    SETTINGS_JSON,
    BotOut,
    KnowledgeOut,
    SettingsOut,
)
from botyard.conversations.schemas import (
    CONVERSATION_JSON,
    EXCHANGE_JSON,
    MESSAGE_JSON,
    ConversationOut,
    Exchange,
    MessageOut,
)
from botyard.core.pagination import ListResponse, list_json
from botyard.core.responses import RowJSON

WHEN = datetime(2026, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)


def row(**values: Any) -> Any:
    return namedtuple("ReadRow", values)(**values)  # type: ignore[misc]


def pydantic_json(model: type[BaseModel], value: Any) -> bytes:
    return model.model_validate(value._asdict()).model_dump_json().encode()


BOT = row(
    id="bot_1",
    organization_id="org_1",
    name='Support \u00e9\u4e2d \U0001f600 "quoted" \\ </script>',
    description="",
    status="paused",
    welcome_message="Hi",
    fallback_message="Sorry",
    language="pt-BR",
    answer_threshold=1,
    widget_color="#aabbcc",
    widget_launcher_text="Chat",
    identity_verification=True,
    created_at=WHEN,
    updated_at=WHEN.replace(tzinfo=None),
)


@pytest.mark.parametrize(("shape", "model"), [(BOT_JSON, BotOut), (SETTINGS_JSON, SettingsOut)])
def test_a_bot_row_is_written_byte_for_byte_as_its_model(shape: RowJSON, model: type) -> None:
    assert shape.response(BOT).body == pydantic_json(model, BOT)


def test_an_integer_in_a_float_field_is_written_as_a_float() -> None:
    assert json.loads(SETTINGS_JSON.response(BOT).body)["answer_threshold"] == 1.0
    assert b'"answer_threshold":1.0' in SETTINGS_JSON.response(BOT).body


def test_validation_alias_names_the_column_read() -> None:
    assert "id" in SETTINGS_JSON.columns and "bot_id" not in SETTINGS_JSON.columns
    assert json.loads(SETTINGS_JSON.response(BOT).body)["bot_id"] == "bot_1"


def test_constants_are_not_read_from_the_row() -> None:
    assert "object" not in BOT_JSON.columns
    assert json.loads(BOT_JSON.response(BOT).body)["object"] == "bot"


def test_a_knowledge_entry_with_tags_and_a_time_in_another_zone() -> None:
    entry = row(
        id="kb_1",
        bot_id="bot_1",
        question="Q?",
        answer="A\nline two\ttab",
        tags=["billing", "\u00fcber"],
        created_at=datetime(2026, 5, 1, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
        updated_at=WHEN,
    )
    assert KNOWLEDGE_JSON.response(entry).body == pydantic_json(KnowledgeOut, entry)
    assert json.loads(KNOWLEDGE_JSON.response(entry).body)["created_at"] == "2026-05-02T04:59:59Z"


@pytest.mark.parametrize("closed_at", [None, WHEN], ids=["open", "closed"])
def test_optional_fields_as_null_and_as_values(closed_at: datetime | None) -> None:
    conversation = row(
        id="conv_1",
        bot_id="bot_1",
        external_user_id=None if closed_at is None else "user-9",
        status="open" if closed_at is None else "closed",
        created_at=WHEN,
        updated_at=WHEN,
        closed_at=closed_at,
    )
    body = CONVERSATION_JSON.response(conversation).body
    assert body == pydantic_json(ConversationOut, conversation)


@pytest.mark.parametrize("score", [None, 0.8333333333333334, 1])
def test_messages_with_and_without_a_source(score: float | None) -> None:
    message = row(
        id="msg_1",
        conversation_id="conv_1",
        role="bot" if score is not None else "user",
        text="Use the Forgot password link.",
        answer_source=None if score is None else "knowledge",
        knowledge_id=None if score is None else "kb_1",
        score=score,
        created_at=WHEN,
    )
    assert MESSAGE_JSON.response(message).body == pydantic_json(MessageOut, message)


def test_the_list_envelope_matches_the_list_model() -> None:
    rows = [BOT, BOT._replace(id="bot_2", description="two")]
    for has_more, cursor in ((True, "abc"), (False, None)):
        body = list_json(BOT_JSON, (rows, has_more, cursor)).body
        expected = ListResponse[BotOut].model_validate(
            {"data": [r._asdict() for r in rows], "has_more": has_more, "next_cursor": cursor}
        )
        assert body == expected.model_dump_json().encode()
    empty = list_json(BOT_JSON, ([], False, None)).body
    assert json.loads(empty) == {
        "object": "list",
        "data": [],
        "has_more": False,
        "next_cursor": None,
    }


def test_an_exchange_nests_its_messages_as_pydantic_writes_them() -> None:
    asked = row(
        id="msg_1",
        conversation_id="conv_1",
        role="user",
        text="How do I reset it?",
        answer_source=None,
        knowledge_id=None,
        score=None,
        created_at=WHEN,
    )
    answer = asked._replace(
        id="msg_2", role="bot", answer_source="knowledge", knowledge_id="kb_1", score=1
    )
    message, reply = (MessageOut.model_validate(m._asdict()) for m in (asked, answer))
    exchange = Exchange.model_construct(conversation_id="conv_1", message=message, reply=reply)
    expected = Exchange(conversation_id="conv_1", message=message, reply=reply)
    response = EXCHANGE_JSON.response(exchange, status_code=201)
    assert response.body == expected.model_dump_json().encode()
    assert response.status_code == 201


def test_a_field_it_cannot_write_exactly_is_refused_by_name() -> None:
    class Nested(BaseModel):
        inner: dict[str, int]

    class Unwritable(BaseModel):
        id: str
        child: Nested

    with pytest.raises(TypeError, match=r"Nested\.inner"):
        RowJSON(Unwritable)

    class Serialized(BaseModel):
        when: datetime = Field()

    with pytest.raises(TypeError, match=r"Serialized\.when"):
        RowJSON(Serialized)
