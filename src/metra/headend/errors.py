"""Typed failures of the head-end, so a caller can tell a missing key from a bad import file.

Messages name the meter, file or field at fault and never carry key material (SEC-7).
"""

from __future__ import annotations


class HeadEndError(Exception):
    """Base of every failure the head-end raises on purpose."""


class MasterKeyMissing(HeadEndError):
    """No usable master key: the key store refuses to start rather than fall back to a default."""


class KeyStoreError(HeadEndError):
    """A stored key cannot be opened (wrong master key, altered blob) or is not there."""


class ImportFailed(HeadEndError):
    """A meter import file is unreadable, inconsistent or was wrapped under another KEK;
    nothing from it was stored."""
