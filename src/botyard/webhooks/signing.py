"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
SEALING_PURPOSE = "webhook-secret"


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, as the Standard Webhooks spec writes secrets."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(
    secrets_in_use: list[str], webhook_id: str, timestamp: int, body: bytes
) -> str:
    """One signature per secret in use (two while a rotated secret is in its grace period)."""
    return " ".join(signature(s, webhook_id, timestamp, body) for s in secrets_in_use)
