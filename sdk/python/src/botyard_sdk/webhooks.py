"""Checking Botyard's webhook deliveries, which follow the Standard Webhooks format.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (epoch seconds) and
``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed with the
base64-decoded part of the endpoint's ``whsec_…`` secret, several space-separated while a
rotated secret is in its grace period. Verify the raw body as received: parsing and
re-serialising JSON changes the bytes and breaks the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from botyard_sdk.errors import WebhookVerificationError

__all__ = ["DEFAULT_TOLERANCE", "WebhookVerificationError", "sign", "verify"]

DEFAULT_TOLERANCE = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SIGNATURE_VERSION = "v1"


def _secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (the prefix may be left out, as other libraries
    allow). A malformed secret is a configuration mistake, so it raises ValueError rather
    than passing for a bad delivery."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "the webhook secret is not a whsec_ secret (base64 after whsec_)"
        ) from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _signature(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(body: bytes | str, secret: str, *, webhook_id: str, timestamp: int) -> str:
    """The ``webhook-signature`` value for a body: for testing your own receiver."""
    raw = body.encode() if isinstance(body, str) else body
    digest = _signature(_secret_bytes(secret), webhook_id, str(timestamp), raw)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing {name} header")


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's event (``{"id", "type", "created_at", "organization_id", "data"}``)
    once its signature and timestamp check out; raises WebhookVerificationError otherwise.

    ``headers`` may use any capitalisation. A timestamp more than ``tolerance`` seconds from
    now (either way) is refused, so a captured delivery cannot be replayed later. Signatures
    are compared in constant time."""
    raw = body.encode() if isinstance(body, str) else body
    key = _secret_bytes(secret)
    webhook_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp").strip()
    signatures = _header(headers, "webhook-signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance} seconds away from now"
        )
    expected = _signature(key, webhook_id, timestamp, raw)
    matched = False
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise WebhookVerificationError("no webhook-signature matches the body and secret")
    try:
        event = json.loads(raw)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return event
