"""Request and response bodies of conversations and their messages."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from botyard.bots.schemas import CLEAN_TEXT, text_schema
from botyard.core.responses import RowJSON
from botyard.core.timefmt import UTCTimestamp

EXTERNAL_USER_ID_MAX = 200
MESSAGE_TEXT_MAX = 4000

ConversationStatus = Literal["open", "closed"]
AnswerSource = Literal["welcome", "knowledge", "fallback"]
ExternalUserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=EXTERNAL_USER_ID_MAX),
    CLEAN_TEXT,
    text_schema(EXTERNAL_USER_ID_MAX),
]
MessageText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MESSAGE_TEXT_MAX),
    CLEAN_TEXT,
    text_schema(MESSAGE_TEXT_MAX),
]


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_user_id: ExternalUserId | None = Field(
        default=None,
        description="Your identifier of the end user, so analytics can count unique users.",
    )


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["closed"] = Field(
        description="`closed` ends the conversation: it accepts no more messages."
    )


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: MessageText = Field(description="What the end user wrote.")


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["message"] = "message"
    id: str
    conversation_id: str
    role: Literal["user", "bot"]
    text: str
    answer_source: AnswerSource | None = Field(
        description="How the bot chose this message; null for the user's messages."
    )
    knowledge_id: str | None = Field(description="The knowledge entry the bot answered with.")
    score: float | None = Field(
        description="Best knowledge match for the user's message, 0 to 1 (bot replies only)."
    )
    created_at: UTCTimestamp


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["conversation"] = "conversation"
    id: str
    bot_id: str
    external_user_id: str | None
    status: ConversationStatus
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    closed_at: UTCTimestamp | None


class ConversationStarted(ConversationOut):
    """A new conversation with its opening messages (the bot's welcome)."""

    messages: list[MessageOut]


class Exchange(BaseModel):
    """The user's message and the bot's reply to it, stored together."""

    object: Literal["exchange"] = "exchange"
    conversation_id: str
    message: MessageOut
    reply: MessageOut


MESSAGE_JSON = RowJSON(MessageOut)
EXCHANGE_JSON = RowJSON(Exchange)
CONVERSATION_JSON = RowJSON(ConversationOut)
