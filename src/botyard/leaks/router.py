"""Public endpoints that kill leaked keys: anyone who finds one, and GitHub secret scanning."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import TypeAdapter, ValidationError

from botyard.api_keys import keyformat
from botyard.api_keys import service as keys
from botyard.api_keys.deps import client_ip
from botyard.core.database import DBSession
from botyard.core.errors import APIError
from botyard.leaks.schemas import (
    MAX_GITHUB_MATCHES,
    CredentialsReceived,
    GitHubFeedback,
    GitHubMatch,
    RevokeCredentials,
)
from botyard.leaks.service import GitHubKeys, SignatureRefused
from botyard.ratelimit.enforce import limit_failed_attempts, limit_per_ip

router = APIRouter(prefix="/v1", tags=["leaked keys"])
_matches = TypeAdapter(list[GitHubMatch])


@router.post(
    "/credentials/revoke",
    status_code=202,
    summary="Report leaked keys: each real, active one is revoked at once (no key needed)",
    description="Whoever finds a Botyard secret key (`byk_…`) anywhere can kill it, as with "
    "GitHub's credential revocation API. The answer is always 202 with the number of "
    "credentials received, and never says which were real. Limited per client IP.",
)
async def revoke_credentials(
    request: Request, session: DBSession, body: RevokeCredentials
) -> CredentialsReceived:
    ip = client_ip(request)
    await limit_per_ip(
        request, "credrevoke", ip, request.app.state.settings.credential_revocation_limit
    )
    await keys.revoke_leaked(session, body.credentials, source="credential_revocation", ip=ip)
    return CredentialsReceived(received=len(body.credentials))


def _github_keys(request: Request) -> GitHubKeys:
    path = request.app.state.settings.secret_scanning_keys
    if not path:
        raise APIError(
            "secret_scanning_not_configured",
            "GitHub secret scanning is not set up on this server (BOTYARD_SECRET_SCANNING_KEYS).",
            status_code=503,
            type="service_unavailable",
        )
    loaded: GitHubKeys | None = getattr(request.app.state, "github_keys", None)
    if loaded is None or str(loaded.path) != path:
        loaded = request.app.state.github_keys = GitHubKeys(path)
    return loaded


@router.post(
    "/secret-scanning/github",
    summary="GitHub secret scanning partner endpoint: revokes the Botyard keys it reports",
    description="A JSON array of `{token, type, url, source}` signed by GitHub "
    "(`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: ECDSA P-256 / SHA-256 "
    "of the raw body), verified against the keys in `BOTYARD_SECRET_SCANNING_KEYS`. A bad "
    "signature is 401. Answers GitHub's feedback array.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _matches.json_schema()}},
        }
    },
)
async def github_secret_scanning(
    request: Request,
    session: DBSession,
    github_public_key_identifier: Annotated[str | None, Header()] = None,
    github_public_key_signature: Annotated[str | None, Header()] = None,
) -> list[GitHubFeedback]:
    github_keys = _github_keys(request)
    body = await request.body()
    try:
        github_keys.verify(body, github_public_key_identifier, github_public_key_signature)
    except SignatureRefused as exc:
        await limit_failed_attempts(request, client_ip(request))
        raise APIError(
            "invalid_signature", f"Refused: {exc}.", status_code=401, type="invalid_signature"
        ) from None
    try:
        matches = _matches.validate_json(body)
    except ValidationError:
        raise APIError(
            "invalid_parameter",
            "The body must be a JSON array of {token, type, url, source} objects.",
            status_code=422,
            type="validation_error",
        ) from None
    if len(matches) > MAX_GITHUB_MATCHES:
        raise APIError(
            "invalid_parameter",
            f"At most {MAX_GITHUB_MATCHES} matches per request.",
            status_code=422,
            type="validation_error",
        )
    tokens = [m.token for m in matches]
    real = await keys.revoke_leaked(session, tokens, source="github_secret_scanning")
    hashes = [keyformat.hash_key(token) for token in tokens]
    return [
        GitHubFeedback(token_hash=h, label="true_positive" if h in real else "false_positive")
        for h in hashes
    ]
