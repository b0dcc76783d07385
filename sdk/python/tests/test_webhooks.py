"""``botyard_sdk.webhooks.verify`` against signatures computed independently of it: the
Standard Webhooks specification's published vector, and OpenSSL's HMAC."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import time

import pytest

from botyard_sdk import webhooks
from botyard_sdk.errors import WebhookVerificationError

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(signature: str = SPEC_SIGNATURE) -> dict[str, str]:
    return {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": signature,
    }


def openssl_signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 by the openssl binary, keyed with the secret's decoded bytes."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key = base64.b64decode(secret.removeprefix("whsec_")).hex()
    result = subprocess.run(
        [openssl, "dgst", "-sha256", "-binary", "-mac", "HMAC", "-macopt", f"hexkey:{key}"],
        input=f"{webhook_id}.{timestamp}.".encode() + body,
        capture_output=True,
        check=True,
    )
    return "v1," + base64.b64encode(result.stdout).decode()


def test_the_specifications_vector_verifies() -> None:
    event = webhooks.verify(SPEC_BODY, spec_headers(), SPEC_SECRET, now=SPEC_TIMESTAMP)
    assert event == {"test": 2432232314}
    assert webhooks.sign(SPEC_BODY, SPEC_SECRET, webhook_id=SPEC_ID, timestamp=SPEC_TIMESTAMP) == (
        SPEC_SIGNATURE
    )


def test_a_delivery_signed_by_openssl_verifies_and_returns_the_event() -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    event = {
        "id": "evt_1",
        "type": "message.created",
        "created_at": "2026-05-01T12:00:00Z",
        "organization_id": "org_1",
        "data": {"text": "héllo"},
    }
    body = json.dumps(event).encode()
    now = int(time.time())
    headers = {
        "Webhook-Id": "evt_1",
        "Webhook-Timestamp": str(now),
        "Webhook-Signature": openssl_signature(secret, "evt_1", now, body),
    }
    assert webhooks.verify(body, headers, secret) == event


def test_any_of_several_signatures_may_match_during_a_secret_rotation() -> None:
    old = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    wrong = webhooks.sign(SPEC_BODY, old, webhook_id=SPEC_ID, timestamp=SPEC_TIMESTAMP)
    both = f"{wrong} v1a,bm90IHRoaXM= {SPEC_SIGNATURE}"
    assert webhooks.verify(SPEC_BODY, spec_headers(both), SPEC_SECRET, now=SPEC_TIMESTAMP)
    assert webhooks.verify(SPEC_BODY, spec_headers(both), old, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize(
    ("body", "signature", "reason"),
    [
        ('{"test": 2432232315}', SPEC_SIGNATURE, "no webhook-signature matches"),
        (SPEC_BODY, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", "matches"),
        (SPEC_BODY, "v2," + SPEC_SIGNATURE[3:], "matches"),
        (SPEC_BODY, "v1,not-base64!", "matches"),
        (SPEC_BODY, "", "matches"),
    ],
)
def test_tampered_or_unsigned_deliveries_are_refused(
    body: str, signature: str, reason: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=reason):
        webhooks.verify(body, spec_headers(signature), SPEC_SECRET, now=SPEC_TIMESTAMP)


def test_another_id_or_timestamp_breaks_the_signature() -> None:
    headers = {**spec_headers(), "webhook-id": "msg_other"}
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(SPEC_BODY, headers, SPEC_SECRET, now=SPEC_TIMESTAMP)
    shifted = {**spec_headers(), "webhook-timestamp": str(SPEC_TIMESTAMP + 1)}
    with pytest.raises(WebhookVerificationError):
        webhooks.verify(SPEC_BODY, shifted, SPEC_SECRET, now=SPEC_TIMESTAMP)


def test_timestamps_outside_the_tolerance_are_refused_both_ways() -> None:
    for offset in (301, -301):
        with pytest.raises(WebhookVerificationError, match="300 seconds"):
            webhooks.verify(SPEC_BODY, spec_headers(), SPEC_SECRET, now=SPEC_TIMESTAMP + offset)
    for offset in (300, -300):
        webhooks.verify(SPEC_BODY, spec_headers(), SPEC_SECRET, now=SPEC_TIMESTAMP + offset)
    late = SPEC_TIMESTAMP + 3600
    assert webhooks.verify(SPEC_BODY, spec_headers(), SPEC_SECRET, tolerance=3600, now=late)


def test_missing_headers_and_bad_bodies_are_named() -> None:
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = {k: v for k, v in spec_headers().items() if k != name}
        with pytest.raises(WebhookVerificationError, match=name):
            webhooks.verify(SPEC_BODY, headers, SPEC_SECRET, now=SPEC_TIMESTAMP)
    bad_time = {**spec_headers(), "webhook-timestamp": "soon"}
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        webhooks.verify(SPEC_BODY, bad_time, SPEC_SECRET, now=SPEC_TIMESTAMP)
    for body in ("not json", "[1, 2]"):
        signature = webhooks.sign(body, SPEC_SECRET, webhook_id=SPEC_ID, timestamp=SPEC_TIMESTAMP)
        with pytest.raises(WebhookVerificationError, match="JSON"):
            webhooks.verify(body, spec_headers(signature), SPEC_SECRET, now=SPEC_TIMESTAMP)


def test_a_malformed_secret_is_a_configuration_error_not_a_bad_delivery() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        webhooks.verify(SPEC_BODY, spec_headers(), "whsec_***", now=SPEC_TIMESTAMP)
    prefixless = SPEC_SECRET.removeprefix("whsec_")
    assert webhooks.verify(SPEC_BODY, spec_headers(), prefixless, now=SPEC_TIMESTAMP)
