"""The audit event as the API shows it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from botyard.core.timefmt import UTCTimestamp


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    object: Literal["audit_event"] = "audit_event"
    id: str
    action: str = Field(
        description="For example `api_key.created`, `api_key.rotated`, `api_key.revoked`, "
        "`member.invited`, `member.joined`, `member.role_changed`, `member.removed`, "
        "`plan.changed`",
        examples=["api_key.created"],
    )
    actor_type: str = Field(description="`user`, `api_key` or `cli`")
    actor_id: str | None = Field(description="The user (`usr_…`) or key (`key_…`) that acted")
    target_type: str | None
    target_id: str | None
    ip: str | None = Field(description="Client address the change came from")
    data: dict[str, Any] = Field(description="Details of the change; never a secret")
    created_at: UTCTimestamp
