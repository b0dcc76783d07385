"""Acceptance: through the HTTP API, a bot answers labelled paraphrases with the right entry."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.bots.factories import add_knowledge, create_bot, org_with_key, send, start_conversation

from .reply_quality_set import KNOWLEDGE_BASE, LABELLED_QUESTIONS, UNRELATED_QUESTIONS

FALLBACK = "I'm not sure about that one; a teammate will get back to you."


async def test_api_reply_quality(
    app: FastAPI, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers, name="Tallybox support", fallback_message=FALLBACK)
    entry_ids: dict[str, str] = {}
    for document in KNOWLEDGE_BASE:
        entry = await add_knowledge(
            client, headers, bot["id"], document.question, document.answer, list(document.tags)
        )
        entry_ids[entry["id"]] = document.id
    conversation = await start_conversation(client, headers, bot["id"], external_user_id="qa")

    right = 0
    for question, expected in LABELLED_QUESTIONS:
        reply = (await send(client, headers, conversation["id"], question))["reply"]
        right += (
            reply["answer_source"] == "knowledge" and entry_ids[reply["knowledge_id"]] == expected
        )
    fallbacks = 0
    for question in UNRELATED_QUESTIONS:
        reply = (await send(client, headers, conversation["id"], question))["reply"]
        fallbacks += reply["answer_source"] == "fallback" and reply["text"] == FALLBACK

    total = len(LABELLED_QUESTIONS)
    accuracy = right / total
    with capsys.disabled():
        print(
            f"\nAPI reply quality: {right}/{total} = {accuracy:.0%}  "
            f"unrelated fallback: {fallbacks}/{len(UNRELATED_QUESTIONS)}"
        )
    assert len(KNOWLEDGE_BASE) >= 20 and total >= 40
    assert accuracy >= 0.80
    assert fallbacks == len(UNRELATED_QUESTIONS)
