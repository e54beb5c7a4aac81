"""TOTP against the published vectors (RFC 6238 Appendix B, RFC 4226 Appendix D), the +-1 step
window and the replay refusal (SEC-5); sealing of secrets under the master key."""

from __future__ import annotations

import pytest

from metra.security.errors import SecretError
from metra.security.sealing import SecretBox
from metra.security.totp import Algorithm, accepted_step, hotp, provisioning_uri, totp

# RFC 6238 Appendix B: the seed is the ASCII string repeated to the hash's key length.
SEEDS = {
    Algorithm.SHA1: b"12345678901234567890",
    Algorithm.SHA256: b"12345678901234567890123456789012",
    Algorithm.SHA512: b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238_VECTORS)
def test_sec5_totp_matches_rfc6238_appendix_b(
    unix_time: int, sha1: str, sha256: str, sha512: str
) -> None:
    for algorithm, expected in zip(Algorithm, (sha1, sha256, sha512), strict=True):
        assert totp(SEEDS[algorithm], unix_time, digits=8, algorithm=algorithm) == expected


def test_hotp_matches_rfc4226_appendix_d() -> None:
    # RFC 4226 Appendix D, secret "12345678901234567890", counters 0..9.
    expected = ["755224", "287082", "359152", "969429", "338314"]
    expected += ["254676", "287922", "162583", "399871", "520489"]
    assert [hotp(SEEDS[Algorithm.SHA1], c) for c in range(10)] == expected


def test_sec5_window_is_one_step_either_side() -> None:
    secret, now = SEEDS[Algorithm.SHA1], 1_700_000_000
    step = int(now // 30)
    for offset in (-1, 0, 1):
        code = totp(secret, now + 30 * offset)
        assert accepted_step(secret, code, now, last_used_step=None) == step + offset
    for offset in (-2, 2):
        assert (
            accepted_step(secret, totp(secret, now + 30 * offset), now, last_used_step=None) is None
        )


def test_sec5_used_code_is_refused_on_replay() -> None:
    secret, now = SEEDS[Algorithm.SHA1], 1_700_000_000
    code = totp(secret, now)
    used = accepted_step(secret, code, now, last_used_step=None)
    assert used is not None
    assert accepted_step(secret, code, now + 5, last_used_step=used) is None


def test_malformed_codes_never_match() -> None:
    for code in ("", "12345", "1234567", "abcdef", "12 456"):
        assert accepted_step(SEEDS[Algorithm.SHA1], code, 59, last_used_step=None) is None


def test_provisioning_uri_carries_base32_secret() -> None:
    uri = provisioning_uri(SEEDS[Algorithm.SHA1], "alice")
    assert uri.startswith("otpauth://totp/metra%3Aalice?")
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" in uri  # RFC 4648 base32 of the seed


def test_sealed_secret_opens_only_with_its_key_and_row() -> None:
    box = SecretBox(bytes(range(32)))
    sealed = box.seal(b"secret", b"user-1")
    assert b"secret" not in sealed
    assert box.open(sealed, b"user-1") == b"secret"
    with pytest.raises(SecretError):
        box.open(sealed, b"user-2")
    with pytest.raises(SecretError):
        SecretBox(bytes(32)).open(sealed, b"user-1")
    with pytest.raises(SecretError):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"user-1")
    assert "00010203" not in repr(box)


def test_master_key_comes_from_env_never_a_default() -> None:
    with pytest.raises(SecretError):
        SecretBox.from_env({})
    box = SecretBox.from_env({"METRA_MASTER_KEY": "11" * 32})
    assert box.open(box.seal(b"x", b"c"), b"c") == b"x"
    with pytest.raises(SecretError):
        SecretBox.parse("zz")
