"""Time-based one-time passwords (RFC 6238) over HOTP (RFC 4226) for the second factor (SEC-5).

A code is accepted for the current 30-second step and one step either side (clock drift and the
time a person needs to type). Each account remembers the newest step it used, and a code for that
step or an earlier one is refused, so a code seen over a shoulder or in a log cannot be replayed
within its window (RFC 6238 section 5.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from enum import StrEnum
from urllib.parse import quote, urlencode

STEP_S = 30
WINDOW_STEPS = 1


class Algorithm(StrEnum):
    """The HMAC hash functions RFC 6238 allows."""

    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"


_DIGEST = {
    Algorithm.SHA1: hashlib.sha1,
    Algorithm.SHA256: hashlib.sha256,
    Algorithm.SHA512: hashlib.sha512,
}


def hotp(
    secret: bytes, counter: int, *, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1
) -> str:
    """The HOTP value for `counter` (RFC 4226 section 5.3, dynamic truncation)."""
    mac = hmac.new(secret, struct.pack(">Q", counter), _DIGEST[algorithm]).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(unix_time: float, step_s: int = STEP_S) -> int:
    """The RFC 6238 counter T = floor(unix time / step) (T0 = 0)."""
    return int(unix_time // step_s)


def totp(
    secret: bytes, unix_time: float, *, digits: int = 6, algorithm: Algorithm = Algorithm.SHA1
) -> str:
    """The TOTP value at `unix_time`."""
    return hotp(secret, time_step(unix_time), digits=digits, algorithm=algorithm)


def accepted_step(
    secret: bytes,
    code: str,
    unix_time: float,
    *,
    last_used_step: int | None,
    digits: int = 6,
    algorithm: Algorithm = Algorithm.SHA1,
) -> int | None:
    """The time step `code` is valid for within +-1 step of `unix_time`, or None.

    A step at or before `last_used_step` never matches: that is the replay refusal. The
    comparison is constant-time per candidate.
    """
    if len(code) != digits or not code.isdigit():
        return None
    now = time_step(unix_time)
    for step in range(now - WINDOW_STEPS, now + WINDOW_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        expected = hotp(secret, step, digits=digits, algorithm=algorithm)
        if hmac.compare_digest(expected, code):
            return step
    return None


def new_secret() -> bytes:
    """A fresh 160-bit secret (the HMAC-SHA1 block RFC 4226 recommends)."""
    return secrets.token_bytes(20)


def provisioning_uri(secret: bytes, account: str, issuer: str = "metra") -> str:
    """The otpauth:// URI authenticator apps read from a QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}")
    encoded = base64.b32encode(secret).decode("ascii").rstrip("=")
    query = urlencode({"secret": encoded, "issuer": issuer, "period": STEP_S, "digits": 6})
    return f"otpauth://totp/{label}?{query}"
