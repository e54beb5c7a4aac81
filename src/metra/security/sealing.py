"""Secrets kept in the database sealed under a master key that is not in the database (SEC-5,
TOOL-3): AES-256-GCM, a fresh 96-bit nonce per seal, the owning row as associated data so a
sealed value copied onto another account fails to open.

The key comes from the caller or from ``METRA_MASTER_KEY`` (64 hex digits or base64 of 32
octets), the same variable the head-end's key store reads; there is never a default.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from metra.security.errors import SecretError

MASTER_KEY_ENV = "METRA_MASTER_KEY"
_KEY_LENGTH = 32
_NONCE_LENGTH = 12
_TAG_LENGTH = 16
_FORMAT = b"\x01"  # layout version: format || nonce || ciphertext+tag


class SecretBox:
    """Seals and opens small secrets; its repr never shows the key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_LENGTH:
            raise SecretError("the master key must be 32 octets (AES-256)")
        self._aead = AESGCM(bytes(key))

    def __repr__(self) -> str:
        return "SecretBox(<master key>)"

    @classmethod
    def parse(cls, text: str) -> SecretBox:
        """A box for a key written as 64 hex digits or as base64."""
        raw = text.strip()
        try:
            key = bytes.fromhex(raw) if len(raw) == 2 * _KEY_LENGTH else base64.b64decode(raw)
        except (ValueError, binascii.Error):
            raise SecretError("the master key is neither hex nor base64") from None
        return cls(key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecretBox:
        """The box for ``METRA_MASTER_KEY``; missing is an error, never a default."""
        environ = os.environ if env is None else env
        text = environ.get(MASTER_KEY_ENV)
        if not text:
            raise SecretError(f"no master key: set {MASTER_KEY_ENV}")
        return cls.parse(text)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt and authenticate `plaintext`, bound to `context` (the row it belongs to)."""
        nonce = secrets.token_bytes(_NONCE_LENGTH)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, blob: bytes, context: bytes) -> bytes:
        """Decrypt a sealed value; an edited blob, another row's blob or another key fails."""
        if len(blob) < 1 + _NONCE_LENGTH + _TAG_LENGTH or blob[:1] != _FORMAT:
            raise SecretError("sealed secret is malformed")
        nonce, body = blob[1 : 1 + _NONCE_LENGTH], blob[1 + _NONCE_LENGTH :]
        try:
            return self._aead.decrypt(nonce, body, context)
        except InvalidTag:
            raise SecretError("sealed secret failed its integrity check") from None
