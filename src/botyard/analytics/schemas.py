"""The analytics response: totals over the period and one point per hour or day."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from botyard.core.timefmt import UTCTimestamp

Interval = Literal["hour", "day"]


class Figures(BaseModel):
    conversations: int = Field(description="Conversations started.")
    user_messages: int = Field(description="Messages end users sent.")
    bot_messages: int = Field(description="Messages bots sent, welcome messages included.")
    unique_end_users: int = Field(
        description="Distinct `external_user_id`s among the conversations started."
    )
    answered_rate: float | None = Field(
        description="Share of replies to end users answered from the knowledge base "
        "(null when there were no replies)."
    )
    fallback_rate: float | None = Field(
        description="Share of replies to end users that were the fallback message "
        "(null when there were no replies)."
    )
    messages_per_conversation: float | None = Field(
        description="Average number of messages of the conversations started "
        "(null when none started)."
    )


class Point(Figures):
    start: UTCTimestamp = Field(description="Start of the hour or day (UTC).")
    end: UTCTimestamp = Field(description="End of the hour or day, exclusive.")


class Analytics(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    object: Literal["analytics"] = "analytics"
    bot_id: str | None
    from_: UTCTimestamp = Field(alias="from", description="Start of the period (inclusive).")
    to: UTCTimestamp = Field(description="End of the period (exclusive).")
    interval: Interval
    totals: Figures
    series: list[Point]
