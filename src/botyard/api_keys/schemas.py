"""Request and response bodies of /v1/api-keys. The plaintext key appears only in `ApiKeyCreated`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from botyard.api_keys.models import ApiKey
from botyard.api_keys.service import (
    DEFAULT_GRACE,
    MAX_GRACE,
    NAME_MAX,
    KeyStatus,
)
from botyard.core.durations import parse_duration
from botyard.core.params import NotBoolean
from botyard.core.timefmt import UTCTimestamp, within_calendar, written_out

ScopeName = Literal["read", "write", "admin"]
MAX_LIFETIME = timedelta(days=3650)


def _duration(text: str) -> timedelta:
    """``parse_duration`` whose absurdly large values fail validation instead of overflowing."""
    try:
        return parse_duration(text)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


class KeyWarning(BaseModel):
    code: str = Field(examples=["rotation_due"])
    message: str


class ApiKeyOut(BaseModel):
    """An API key as the API shows it: a hint of the key, never the key itself."""

    object: Literal["api_key"] = "api_key"
    id: str
    name: str
    scopes: list[str]
    hint: str = Field(description="The key's first 8 and last 4 characters")
    created_at: UTCTimestamp
    created_by: str | None = Field(
        description="Id of the user or key that created it; null when made with the CLI"
    )
    expires_at: UTCTimestamp | None
    last_used_at: UTCTimestamp | None
    last_used_ip: str | None
    revoked_at: UTCTimestamp | None
    rotated_to: str | None = Field(description="The key that replaced this one by rotation")
    rotated_from: str | None = Field(description="The key this one replaced by rotation")
    allowed_ips: list[str] | None = Field(description="CIDR ranges allowed to use the key")
    rate_limit: int | None = Field(
        description="Requests per hour for this key alone; null means the organization's limit"
    )
    status: KeyStatus
    warnings: list[KeyWarning] = Field(
        default_factory=list,
        description="What to look at on this key, such as `unused`, `rotation_due`, "
        "`expires_soon`, `new_ip`, `revoked_key_in_use` or `spike`",
    )

    @classmethod
    def of(
        cls, key: ApiKey, status: KeyStatus, warnings: list[dict[str, Any]] | None = None
    ) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            scopes=list(key.scopes),
            hint=key.hint,
            created_at=key.created_at,
            created_by=key.created_by,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            last_used_ip=key.last_used_ip,
            revoked_at=key.revoked_at,
            rotated_to=key.rotated_to,
            rotated_from=key.rotated_from,
            allowed_ips=key.allowed_ips,
            rate_limit=key.rate_limit,
            status=status,
            warnings=[KeyWarning.model_validate(w) for w in warnings or []],
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(
        description="The API key itself. Shown only in this response: store it now, it cannot "
        "be retrieved again."
    )


class ApiKeyRotated(ApiKeyCreated):
    previous_key: ApiKeyOut = Field(
        description="The key that was rotated, with the `expires_at` its grace period gives it "
        "(or `revoked_at` when the grace period was 0)"
    )


class CreateApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX, examples=["Website Integration"])
    scopes: list[ScopeName] = Field(
        min_length=1,
        description="`admin` implies `write`, which implies `read`. Never wider than the "
        "calling key's scopes.",
        examples=[["read"]],
    )
    expires_at: (
        Annotated[AwareDatetime, BeforeValidator(written_out), AfterValidator(within_calendar)]
        | None
    ) = Field(None, description="RFC 3339 time at which the key stops working")
    expires_in: str | None = Field(
        None,
        description="Lifetime such as `90d`, `12h`, `15m` or `90s`; an alternative to `expires_at`",
        examples=["90d"],
    )
    allowed_ips: list[str] | None = Field(
        None,
        max_length=100,
        description="IP addresses or CIDR ranges allowed to use the key; null allows any",
        examples=[["203.0.113.0/24"]],
    )
    rate_limit: Annotated[int, NotBoolean] | None = Field(
        None,
        ge=1,
        le=1_000_000_000,
        description="Requests per hour for this key alone, below the organization's limit",
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()

    @field_validator("expires_in")
    @classmethod
    def _valid_duration(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lifetime = _duration(value)
        if lifetime <= timedelta(0):
            raise ValueError("expires_in must be longer than 0")
        if lifetime > MAX_LIFETIME:
            raise ValueError("expires_in must be at most 3650 days")
        return value

    @model_validator(mode="after")
    def _one_expiry(self) -> CreateApiKey:
        if self.expires_at is not None and self.expires_in is not None:
            raise ValueError("give expires_at or expires_in, not both")
        return self

    def expiry(self, now: datetime) -> datetime | None:
        if self.expires_in is not None:
            return now + _duration(self.expires_in)
        return self.expires_at


class UpdateApiKey(BaseModel):
    """Only the fields sent change; null clears an allow-list or a key's own rate limit."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    scopes: list[ScopeName] | None = Field(
        None, min_length=1, description="Never wider than the calling key's scopes"
    )
    allowed_ips: list[str] | None = Field(
        None,
        max_length=100,
        description="IP addresses or CIDR ranges allowed to use the key; null allows any",
    )
    rate_limit: Annotated[int, NotBoolean] | None = Field(
        None, ge=1, le=1_000_000_000, description="Requests per hour for this key; null: the org's"
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("name cannot be null; leave it out to keep the name")
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()

    @field_validator("scopes")
    @classmethod
    def _scopes_not_null(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            raise ValueError("scopes cannot be null; leave it out to keep the scopes")
        return value

    def changes(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.model_fields_set}


class RotateApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period: StrictInt | str = Field(
        int(DEFAULT_GRACE.total_seconds()),
        description="How long the old key keeps working: seconds (0 to 604800) or a duration "
        "such as `24h` or `7d`. 0 revokes the old key at once. Default 24 hours.",
        examples=[86400, "24h"],
    )

    @field_validator("grace_period")
    @classmethod
    def _within_bounds(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            in_bounds = 0 <= value <= MAX_GRACE.total_seconds()
        else:
            in_bounds = timedelta(0) <= _duration(value) <= MAX_GRACE
        if not in_bounds:
            raise ValueError("grace_period must be between 0 and 7 days (604800 seconds)")
        return value

    def grace(self) -> timedelta:
        value = self.grace_period
        return _duration(value) if isinstance(value, str) else timedelta(seconds=value)
