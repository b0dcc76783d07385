"""Bodies of the publishable-key management routes and of the widget's visitor API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from botyard.bots.schemas import CLEAN_TEXT, text_schema
from botyard.conversations.schemas import ConversationOut, ExternalUserId, MessageOut
from botyard.core.timefmt import UTCTimestamp
from botyard.widget.models import PublishableKey

NAME_MAX = 100
DEFAULT_KEY_NAME = "Website widget"

KeyName = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX), CLEAN_TEXT, text_schema(NAME_MAX)
]
UserHash = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PublishableKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName = Field(DEFAULT_KEY_NAME, description="What the key is for, e.g. the site.")
    allowed_origins: list[Annotated[str, StringConstraints(max_length=300)]] = Field(
        description="Where the widget may run: scheme, host and optional port, such as "
        "`https://shop.example` or `http://localhost:3000`; a leading `*.` allows subdomains "
        "(`https://*.shop.example`). At least one, at most 50.",
        max_length=50,
    )


class PublishableKeyOut(BaseModel):
    object: Literal["publishable_key"] = "publishable_key"
    id: str
    key: str = Field(description="`byp_…`: not a secret, it goes in the embed snippet")
    name: str
    bot_id: str
    allowed_origins: list[str]
    status: Literal["active", "revoked"]
    created_at: UTCTimestamp
    revoked_at: UTCTimestamp | None
    rotated_to: str | None = Field(description="The key that replaced this one")
    rotated_from: str | None = Field(description="The key this one replaced")

    @classmethod
    def of(cls, key: PublishableKey) -> PublishableKeyOut:
        return cls(
            id=key.id,
            key=key.key,
            name=key.name,
            bot_id=key.bot_id,
            allowed_origins=list(key.allowed_origins),
            status="revoked" if key.revoked_at is not None else "active",
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            rotated_to=key.rotated_to,
            rotated_from=key.rotated_from,
        )


class IdentitySecretOut(BaseModel):
    object: Literal["identity_secret"] = "identity_secret"
    bot_id: str
    identity_secret: str = Field(
        description="Key of the HMAC-SHA256 your server computes over the user id (UTF-8), "
        "sent by the widget as `user_hash` in lowercase hex. Keep it on your server."
    )
    identity_verification: bool = Field(
        description="Whether the widget must identify every visitor (a bot setting)"
    )


class WidgetColors(BaseModel):
    primary: str = Field(description="The launcher's and the visitor's bubbles' colour")
    on_primary: str = Field(description="Text on the primary colour, chosen for contrast")


class WidgetConfig(BaseModel):
    object: Literal["widget_config"] = "widget_config"
    bot_id: str
    bot_name: str
    welcome_message: str
    launcher_text: str
    colors: WidgetColors
    identity_required: bool
    available: bool = Field(description="False while the bot is paused")


class WidgetConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_user_id: ExternalUserId | None = Field(
        None, description="Your site's id of the signed-in visitor (needs `user_hash`)."
    )
    user_hash: UserHash | None = Field(
        None,
        description="Lowercase hex HMAC-SHA256 of `external_user_id`, keyed with the bot's "
        "identity secret, computed by your server.",
    )


class WidgetConversationStarted(BaseModel):
    conversation: ConversationOut
    visitor_token: str = Field(
        description="`byv_…`: send it as `X-Visitor-Token` to read and post in this "
        "conversation; shown only here."
    )
    messages: list[MessageOut]
