"""Leak reports: checking GitHub's signature on a secret scanning alert.

GitHub signs each alert's raw body with ECDSA P-256 / SHA-256 and names the key in
``Github-Public-Key-Identifier``. The verifying keys come from the operator, as a file of
GitHub's ``public_keys`` JSON (https://api.github.com/meta/public_keys/secret_scanning), so
a Botyard server never fetches them over the network; the file is re-read when it changes.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

logger = logging.getLogger("botyard.leaks")


class SignatureRefused(Exception):
    """The alert is not signed by one of the configured GitHub keys (the message says how)."""


class GitHubKeys:
    """The operator's GitHub public keys, by identifier, reloaded when the file changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}

    def keys(self) -> dict[str, ec.EllipticCurvePublicKey]:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._keys = parse_public_keys(self.path.read_text())
            self._stamp = stamp
        return self._keys

    def verify(self, body: bytes, identifier: str | None, signature: str | None) -> None:
        if not identifier or not signature:
            raise SignatureRefused(
                "the Github-Public-Key-Identifier and Github-Public-Key-Signature headers are "
                "required"
            )
        key = self.keys().get(identifier.strip())
        if key is None:
            raise SignatureRefused("the Github-Public-Key-Identifier names no configured key")
        try:
            der = base64.b64decode(signature.strip(), validate=True)
            key.verify(der, body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise SignatureRefused(
                "the Github-Public-Key-Signature does not match the body"
            ) from None


def parse_public_keys(text: str) -> dict[str, ec.EllipticCurvePublicKey]:
    """``{"public_keys": [{"key_identifier", "key" (PEM), "is_current"}]}`` → P-256 keys."""
    document = json.loads(text)
    found: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in document.get("public_keys", []):
        key = load_pem_public_key(entry["key"].encode())
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            logger.warning(
                "skipping secret scanning key %s: not ECDSA P-256", entry.get("key_identifier")
            )
            continue
        found[str(entry["key_identifier"])] = key
    return found
