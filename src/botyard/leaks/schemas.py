"""Bodies of the leaked-key endpoints: what a finder sends, and what Botyard answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_CREDENTIALS = 100
MAX_GITHUB_MATCHES = 1000
TOKEN_MAX = 200


class RevokeCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credentials: list[str] = Field(
        min_length=1,
        max_length=MAX_CREDENTIALS,
        description="Botyard secret keys (`byk_…`) found where they should not be",
        examples=[["byk_0123456789abcdefghijABCDEFGHIJ012345"]],
    )


class CredentialsReceived(BaseModel):
    """The same answer whatever was sent: it never says which credentials were real."""

    object: Literal["credential_revocation"] = "credential_revocation"
    received: int = Field(description="How many credentials the request listed")


class GitHubMatch(BaseModel):
    """One match of GitHub's secret scanning partner protocol."""

    model_config = ConfigDict(extra="ignore")

    token: str = Field(max_length=10_000)
    type: str = ""
    url: str = ""
    source: str = ""


class GitHubFeedback(BaseModel):
    token_hash: str = Field(description="SHA-256 of the token, lowercase hex")
    token_type: Literal["botyard_api_key"] = "botyard_api_key"  # noqa: S105 - a type name
    label: Literal["true_positive", "false_positive"]
