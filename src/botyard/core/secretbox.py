"""Encryption at rest for the secrets Botyard must read back.

API keys, visitor tokens and passwords are only ever compared, so they are stored as hashes.
A webhook signing secret or a bot's identity secret is *used* by the server (to sign, to check
an HMAC), so it must be recoverable: it is sealed with a key derived from the operator's
``BOTYARD_SECRET_KEY``. Without that setting, the embedded default keeps a random master key
in ``./botyard.secret`` (mode 0600), created on first start; losing it makes the sealed
secrets unreadable, so it is backed up with the database.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Annotated, Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Depends, Request

logger = logging.getLogger("botyard.secretbox")

MIN_SECRET_KEY_LENGTH = 32
GENERATED_KEY_BYTES = 48


class SecretBoxError(Exception):
    """A sealed value cannot be opened: it was sealed under another master key, or damaged."""


class SecretBox:
    """Seals and opens short secrets, with one derived key per purpose.

    A purpose (``"webhook-secret"``, ``"identity-secret"``) binds a sealed value to what it is
    for, so a value copied from one column into another does not open."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"the master key must be at least {MIN_SECRET_KEY_LENGTH} bytes")
        self._master_key = master_key
        self._fernets: dict[str, Fernet] = {}

    def __repr__(self) -> str:
        return "SecretBox(<master key hidden>)"

    def _fernet(self, purpose: str) -> Fernet:
        fernet = self._fernets.get(purpose)
        if fernet is None:
            derived = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"botyard secretbox\0" + purpose.encode(),
            ).derive(self._master_key)
            fernet = self._fernets[purpose] = Fernet(base64.urlsafe_b64encode(derived))
        return fernet

    def derive_token(self, purpose: str) -> str:
        """A stable secret for ``purpose`` (22 URL-safe characters), recomputed, never stored."""
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=16,
            salt=None,
            info=b"botyard derived token\0" + purpose.encode(),
        ).derive(self._master_key)
        return base64.urlsafe_b64encode(derived).decode().rstrip("=")

    def seal(self, plaintext: str, *, purpose: str) -> str:
        return self._fernet(purpose).encrypt(plaintext.encode()).decode()

    def open(self, sealed: str, *, purpose: str) -> str:
        try:
            return self._fernet(purpose).decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretBoxError(
                f"a stored {purpose} cannot be decrypted: BOTYARD_SECRET_KEY (or the secret "
                "key file) is not the one it was encrypted with"
            ) from None


def load_secret_box(secret_key: str | None, secret_key_file: str | Path) -> SecretBox:
    """The box for the configured master key, creating the default key file if needed."""
    if secret_key is not None:
        if len(secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"BOTYARD_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return SecretBox(secret_key.encode())
    return SecretBox(_read_or_create_key_file(Path(secret_key_file)))


def _read_or_create_key_file(path: Path) -> bytes:
    """Read the master key file, or create it atomically with mode 0600.

    Several processes may start at once on a new install: the key is written to a private
    temporary file and hard-linked into place, so whoever loses the race reads the winner's
    complete key, never an empty or half-written file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(GENERATED_KEY_BYTES) + "\n")
            try:
                os.link(temporary, path)
                logger.warning(
                    "created the secret key file %s (mode 0600): back it up with the database; "
                    "without it, webhook and identity secrets cannot be read",
                    path,
                )
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("the secret key file %s is readable by others: chmod 600 it", path)
    key = path.read_text().strip().encode()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ValueError(f"the secret key file {path} holds no usable key")
    return key


def app_secret_box(state: Any) -> SecretBox:
    """The application's box, loaded on first use (at start-up by the lifespan)."""
    box: SecretBox | None = getattr(state, "secret_box", None)
    if box is None:
        settings = state.settings
        secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
        box = state.secret_box = load_secret_box(secret_key, settings.secret_key_file)
    return box


def get_secret_box(request: Request) -> SecretBox:
    return app_secret_box(request.app.state)


AppSecretBox = Annotated[SecretBox, Depends(get_secret_box)]
