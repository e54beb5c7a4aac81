"""Fleet inventory import throughput: meters per second into a SQLite (or given) store.

Writes a fleet inventory (``metra-fleet-inventory`` v1) of ``--meters`` meters, each with the
fleet's 14 keys (ek+ak of SAPs 1..3 on WAN and optical, HAN key, master key) wrapped under a
fresh KEK, then times `import_file` into a freshly migrated store: parse, RFC 3394 unwrap,
AES-GCM seal under the master key, master data, addresses, keys and audit in one transaction.

The baseline, run in this process on the same keys, is the bare cryptography the import cannot
avoid: RFC 3394 unwrap of every wrapped key and one AES-GCM seal of each under the master key,
without parsing or the store. The ratio says how much the import costs beyond that.

    python bench/bench_import.py [--meters 10000] [--db URL] [--profile]

Not a test: it prints figures and exits.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
from sqlalchemy import func, select

from metra.dlms.keywrap import wrap_key
from metra.headend.importer import import_file
from metra.headend.keystore import KeyStore, MasterKey
from metra.store import make_engine, migrate
from metra.store.schema import audit_record, meter_key

AT = datetime(2025, 3, 1, 8, tzinfo=UTC)


def inventory(meters: int, kek: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """A fleet inventory document and the list of every wrapped key in it."""
    wrapped: list[bytes] = []

    def w() -> str:
        blob = wrap_key(kek, secrets.token_bytes(16))
        wrapped.append(blob)
        return blob.hex()

    entries = []
    for i in range(meters):
        associations: dict[str, Any] = {"16": {"name": "public", "mechanism": "none", "suite": 0}}
        for sap in (1, 2, 3):
            associations[str(sap)] = {
                "name": f"sap{sap}",
                "mechanism": "hls-gmac",
                "suite": 0,
                **{
                    iface: {"encryption": w(), "authentication": w()}
                    for iface in ("wan", "optical")
                },
            }
        entries.append(
            {
                "serial": f"MTR{i:08d}",
                "system_title": (b"MTR" + i.to_bytes(5, "big")).hex(),
                "customer_type": "household",
                "phases": 1,
                "host": "127.0.0.1",
                "port": 4059 + i % 60000,
                "transport": "wrapper",
                "tls": False,
                "server_address": 1,
                "physical_address": 0,
                "security": "hls-gmac",
                "associations": associations,
                "han_key": w(),
                "master_key": w(),
            }
        )
    document = {
        "format": "metra-fleet-inventory",
        "version": 1,
        "key_wrap": "aes-key-wrap-rfc3394",
        "meters": entries,
    }
    return document, wrapped


def baseline(kek: bytes, wrapped: list[bytes]) -> float:
    """Seconds for the unavoidable crypto: unwrap each key, seal it with per-key AAD."""
    aead = AESGCM(secrets.token_bytes(32))
    started = time.perf_counter()
    for n, blob in enumerate(wrapped):
        key = aes_key_unwrap(kek, blob)
        nonce = secrets.token_bytes(12)
        aead.encrypt(nonce, key, b"metra key\x00" + n.to_bytes(16, "big") + b"wan\x00ek.1")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--db", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="print the top of cProfile")
    args = parser.parse_args()

    kek = secrets.token_bytes(16)
    document, wrapped = inventory(args.meters, kek)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "inventory.json"
        path.write_text(json.dumps(document))
        url = args.db or Path(scratch) / "metra.db"
        migrate(url)
        engine = make_engine(url)
        store = KeyStore(MasterKey.generate())
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        ids, _ = import_file(engine, store, path, kek, at=AT, by="bench")
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(meter_key)).scalar_one()
            audited = conn.execute(select(func.count()).select_from(audit_record)).scalar_one()
        engine.dispose()
    base = baseline(kek, wrapped)
    print(f"meters            {len(ids)}")
    print(f"keys sealed       {stored} ({len(wrapped)} wrapped in the file)")
    print(f"audit entries     {audited}")
    print(f"import            {elapsed:.2f} s, {len(ids) / elapsed:.0f} meters/s")
    print(f"baseline          {base:.2f} s, {len(ids) / base:.0f} meters/s (unwrap + seal only)")
    print(f"ratio             {elapsed / base:.1f}x the bare unwrap + seal")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
