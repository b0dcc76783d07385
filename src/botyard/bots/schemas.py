"""Request and response bodies of bots, their settings and their knowledge entries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import WithJsonSchema

from botyard.core.params import NotBoolean
from botyard.core.responses import RowJSON
from botyard.core.timefmt import UTCTimestamp

BOT_NAME_MAX = 100
DESCRIPTION_MAX = 1000
MESSAGE_TEXT_MAX = 2000
QUESTION_MAX = 1000
ANSWER_MAX = 10_000
TAGS_MAX = 20
TAG_MAX = 50
LAUNCHER_TEXT_MAX = 40

BotStatus = Literal["active", "paused"]


TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
"""Text fields hold something besides whitespace and no NUL (which PostgreSQL cannot store)."""

OPTIONAL_TEXT_PATTERN = r"^[^\x00]*$"


def _clean_text(value: str) -> str:
    """Trim surrounding whitespace once the length is checked, with errors a person can read.

    Lengths apply to the string as sent, as the OpenAPI schema states them, so the schema
    and the server always agree on what is valid.
    """
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.strip():
        raise ValueError("must contain more than whitespace")
    return value.strip()


def _clean_optional_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value.strip()


def text_schema(max_length: int, *, blank: bool = False) -> WithJsonSchema:
    """The OpenAPI schema of a text field, stating every rule the validators apply."""
    if blank:
        return WithJsonSchema(
            {"type": "string", "maxLength": max_length, "pattern": OPTIONAL_TEXT_PATTERN}
        )
    return WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": TEXT_PATTERN}
    )


CLEAN_TEXT = AfterValidator(_clean_text)

BotName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=BOT_NAME_MAX),
    CLEAN_TEXT,
    text_schema(BOT_NAME_MAX),
]
Description = Annotated[
    str,
    StringConstraints(max_length=DESCRIPTION_MAX),
    AfterValidator(_clean_optional_text),
    text_schema(DESCRIPTION_MAX, blank=True),
]
BotText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MESSAGE_TEXT_MAX),
    CLEAN_TEXT,
    text_schema(MESSAGE_TEXT_MAX),
]
Language = Annotated[
    str, StringConstraints(max_length=10, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
]
WidgetColor = Annotated[
    str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$"), AfterValidator(str.lower)
]
LauncherText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=LAUNCHER_TEXT_MAX),
    CLEAN_TEXT,
    text_schema(LAUNCHER_TEXT_MAX),
]
Question = Annotated[
    str,
    StringConstraints(min_length=1, max_length=QUESTION_MAX),
    CLEAN_TEXT,
    text_schema(QUESTION_MAX),
]
Answer = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ANSWER_MAX),
    CLEAN_TEXT,
    text_schema(ANSWER_MAX),
]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=TAG_MAX), CLEAN_TEXT, text_schema(TAG_MAX)
]
Tags = Annotated[list[Tag], Field(max_length=TAGS_MAX)]


def _no_null_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(description: str, **constraints: Any) -> Any:
    """A field a request may leave out but never set to null.

    The default is only a marker: services read ``model_dump(exclude_unset=True)``, so an
    omitted field changes nothing, and the OpenAPI schema shows a plain, non-nullable type.
    """
    return Field(
        default=None, description=description, json_schema_extra=_no_null_default, **constraints
    )


THRESHOLD_DESCRIPTION = (
    "Score (0 to 1) a knowledge entry must reach for the bot to answer with it; "
    "below it the bot sends its fallback message."
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SettingsFields(_Request):
    """The reply settings, each optional so a request changes only what it names."""

    welcome_message: BotText = omittable("First message of every conversation.")
    fallback_message: BotText = omittable("Reply when no knowledge entry is good enough.")
    language: Language = omittable("Language of the knowledge base, e.g. `en`, `fr`, `pt-BR`.")
    answer_threshold: Annotated[float, NotBoolean] = omittable(
        THRESHOLD_DESCRIPTION, ge=0.0, le=1.0, allow_inf_nan=False
    )
    widget_color: WidgetColor = omittable("The website widget's colour, `#rrggbb`.")
    widget_launcher_text: LauncherText = omittable("The website widget's button text.")
    identity_verification: bool = omittable(
        "Whether the website widget must identify every visitor with a `user_hash` made by "
        "your server (see GET /v1/bots/{bot_id}/identity-secret)."
    )


class BotCreate(SettingsFields):
    name: BotName
    description: Description = ""
    status: BotStatus = "active"


class BotUpdate(_Request):
    name: BotName = omittable("1 to 100 characters.")
    description: Description = omittable("Free text for your team.")
    status: BotStatus = omittable("A paused bot starts no conversations and sends no replies.")


class SettingsUpdate(SettingsFields):
    pass


class BotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["bot"] = "bot"
    id: str
    name: str
    description: str
    status: BotStatus
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class SettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["bot_settings"] = "bot_settings"
    bot_id: str = Field(validation_alias="id")
    welcome_message: str
    fallback_message: str
    language: str
    answer_threshold: float
    widget_color: str
    widget_launcher_text: str
    identity_verification: bool


class KnowledgeCreate(_Request):
    question: Question
    answer: Answer
    tags: Tags = Field(default_factory=list)


class KnowledgeUpdate(_Request):
    question: Question = omittable("1 to 1000 characters.")
    answer: Answer = omittable("1 to 10000 characters.")
    tags: Tags = omittable("Up to 20 tags of up to 50 characters; replaces the previous list.")


class KnowledgeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["knowledge_entry"] = "knowledge_entry"
    id: str
    bot_id: str
    question: str
    answer: str
    tags: list[str]
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class Deleted(BaseModel):
    """What a DELETE answers, as Stripe does: the id, its kind and ``deleted: true``."""

    id: str
    object: str
    deleted: Literal[True] = True


BOT_JSON = RowJSON(BotOut)
SETTINGS_JSON = RowJSON(SettingsOut)
KNOWLEDGE_JSON = RowJSON(KnowledgeOut)
