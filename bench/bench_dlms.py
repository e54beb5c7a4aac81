"""Decode and encode of a ciphered GET response carrying a one-day 15-minute profile.

The APDU is a glo-get-response (AES-GCM-128, authenticated and encrypted) whose data is 96 rows of
8 columns (clock octet-string, status, six energy registers), as a meter answers a daily profile
read. Figures are microseconds per APDU; the baseline is ``json.loads`` of the same values as
JSON text, measured in the same run, and the ratio is ours / baseline.

Run: ``python bench/bench_dlms.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import time
from collections.abc import Callable

from metra.dlms.axdr import datetime_to_bytes
from metra.dlms.data import Array, DateTime, DoubleLongUnsigned, OctetString, Structure, Unsigned
from metra.dlms.security import CipheringKind, SecurityControl, cipher_apdu, decipher_apdu
from metra.dlms.xdlms.codec import decode_apdu, encode_apdu
from metra.dlms.xdlms.common import InvokeIdAndPriority
from metra.dlms.xdlms.get import GetResponseNormal

EK, AK = secrets.token_bytes(16), secrets.token_bytes(16)
TITLE = bytes.fromhex("4d4d4d0000bc614e")
SC = SecurityControl(suite=0, authenticated=True, encrypted=True)


def profile_rows() -> list[list[object]]:
    start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    rows: list[list[object]] = []
    for i in range(96):
        stamp = start + dt.timedelta(minutes=15 * i)
        rows.append(
            [datetime_to_bytes(DateTime.from_datetime(stamp)), 0, *(1000 * i + c for c in range(6))]
        )
    return rows


def as_cosem(rows: list[list[object]]) -> Array:
    return Array(
        [
            Structure(
                [OctetString(r[0]), Unsigned(r[1])]  # type: ignore[arg-type]
                + [DoubleLongUnsigned(v) for v in r[2:]]  # type: ignore[arg-type]
            )
            for r in rows
        ]
    )


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - t0) / rounds)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    rows = profile_rows()
    value = as_cosem(rows)
    invoke = InvokeIdAndPriority(1, True, True)
    counter = iter(range(1, 2**31))

    def encode() -> bytes:
        plain = encode_apdu(GetResponseNormal(invoke, value))
        return cipher_apdu(plain, CipheringKind.GLO, SC, TITLE, next(counter), EK, AK)

    apdu = encode()

    def decode() -> object:
        deciphered = decipher_apdu(apdu, ek=EK, ak=AK, system_title=TITLE)
        return decode_apdu(deciphered.plaintext)

    decoded = decode()
    assert isinstance(decoded, GetResponseNormal) and decoded.result == value

    text = json.dumps([[r[0].hex(), *r[1:]] for r in rows])  # type: ignore[union-attr]
    baseline = per_call_us(lambda: json.loads(text), args.rounds)
    dec = per_call_us(decode, args.rounds)
    enc = per_call_us(encode, args.rounds)
    print(f"APDU: {len(apdu)} bytes (96 rows x 8 columns, glo-get-response, AES-GCM-128)")
    print(f"baseline json.loads of the same values ({len(text)} chars): {baseline:8.1f} us")
    print(
        f"decode (decipher + APDU + A-XDR):  {dec:8.1f} us per APDU   ratio {dec / baseline:5.2f}x"
    )
    print(
        f"encode (A-XDR + APDU + cipher):    {enc:8.1f} us per APDU   ratio {enc / baseline:5.2f}x"
    )


if __name__ == "__main__":
    main()
