"""The key store (SEC-7) and the security events it and the sessions raise (SEC-3)."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, update

from metra.headend.errors import KeyStoreError, MasterKeyMissing
from metra.headend.keystore import MASTER_KEY_ENV, AssociationKeys, KeyStore, MasterKey
from metra.headend.security_events import TitleTracker, authentication_failed, title_seen_twice
from metra.store import audit, keys
from metra.store.events import SecurityCategory, security_events
from metra.store.schema import meter_key

from .conftest import add_meter

AT = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _pair() -> AssociationKeys:
    return AssociationKeys(secrets.token_bytes(16), secrets.token_bytes(16))


def test_sec7_refuses_to_start_without_master_key() -> None:
    with pytest.raises(MasterKeyMissing):
        MasterKey.load(env={})


def test_sec7_master_key_from_env_hex_and_base64() -> None:
    raw = secrets.token_bytes(32)
    by_hex = MasterKey.load(env={MASTER_KEY_ENV: raw.hex()})
    import base64

    by_b64 = MasterKey.load(env={MASTER_KEY_ENV: base64.b64encode(raw).decode()})
    assert by_hex.key_id == by_b64.key_id
    with pytest.raises(MasterKeyMissing):
        MasterKey.load(env={MASTER_KEY_ENV: "00" * 16})  # 16 octets: not AES-256


def test_sec7_master_key_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(secrets.token_bytes(32).hex())
    os.chmod(path, 0o644)
    with pytest.raises(MasterKeyMissing, match="chmod 600"):
        MasterKey.load(env={}, path=path)
    os.chmod(path, 0o600)
    assert MasterKey.load(env={}, path=path).key_id.startswith("mk-")


def test_sec7_keys_round_trip_per_interface_and_sap_sealed_at_rest(conn: Connection) -> None:
    store = KeyStore(MasterKey.generate())
    meter = add_meter(conn, "MTR1")
    wan2, opt2, wan1 = _pair(), _pair(), _pair()
    store.put_association(conn, meter, "wan", 2, wan2, at=AT, by="test")
    store.put_association(conn, meter, "optical", 2, opt2, at=AT, by="test")
    store.put_association(conn, meter, "wan", 1, wan1, at=AT, by="test")
    assert store.association(conn, meter, "wan", 2) == wan2
    assert store.association(conn, meter, "optical", 2) == opt2
    assert store.association(conn, meter, "wan", 1) == wan1
    for row in conn.execute(select(meter_key.c.wrapped)):
        for pair in (wan2, opt2, wan1):
            assert pair.encryption_key not in row.wrapped
            assert pair.authentication_key not in row.wrapped


def test_sec7_keys_never_in_reprs_audit_or_errors(
    conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    master = MasterKey.generate()
    store = KeyStore(master)
    meter = add_meter(conn, "MTR2")
    pair = _pair()
    store.put_association(conn, meter, "wan", 2, pair, at=AT, by="test")
    shown = repr(store) + repr(master) + repr(pair) + repr(keys.history(conn, meter))
    shown += repr(audit.entries(conn)) + caplog.text
    for secret in (pair.encryption_key, pair.authentication_key):
        assert secret.hex() not in shown and repr(secret) not in shown
    with pytest.raises(KeyStoreError) as info:
        store.association(conn, meter, "wan", 3)
    assert pair.encryption_key.hex() not in str(info.value)


def test_sec7_blob_moved_to_another_row_does_not_open(conn: Connection) -> None:
    store = KeyStore(MasterKey.generate())
    meter = add_meter(conn, "MTR3")
    store.put_association(conn, meter, "wan", 2, _pair(), at=AT, by="test")
    ek = conn.execute(select(meter_key.c.wrapped).where(meter_key.c.kind == "ek.2")).scalar_one()
    conn.execute(update(meter_key).where(meter_key.c.kind == "ak.2").values(wrapped=ek))
    with pytest.raises(KeyStoreError, match="integrity"):
        store.association(conn, meter, "wan", 2)


def test_sec7_wrong_master_key_cannot_open(conn: Connection) -> None:
    meter = add_meter(conn, "MTR4")
    KeyStore(MasterKey.generate()).put_association(conn, meter, "wan", 2, _pair(), at=AT, by="t")
    with pytest.raises(KeyStoreError):
        KeyStore(MasterKey.generate()).association(conn, meter, "wan", 2)


def test_sec7_rotation_reseals_every_key_under_new_master(conn: Connection) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    store = KeyStore(old)
    meters = [add_meter(conn, f"MTR-R{i}") for i in range(3)]
    pairs = {m: _pair() for m in meters}
    for m, pair in pairs.items():
        store.put_association(conn, m, "wan", 2, pair, at=AT, by="test")
    moved = store.rotate(conn, new, at=AT + timedelta(hours=1), by="ops")
    assert moved == 6
    fresh = KeyStore(new)  # the old master is gone: only the new one is configured
    for m, pair in pairs.items():
        assert fresh.association(conn, m, "wan", 2) == pair
        assert {k.kek_id for k in keys.history(conn, m) if k.retired_at is None} == {new.key_id}
    assert audit.last(conn) is not None and audit.last(conn).action == "key.rotate_master"  # type: ignore[union-attr]


def test_sec3_authentication_failure_is_a_security_event(conn: Connection) -> None:
    meter = add_meter(conn, "MTR5")
    authentication_failed(
        conn, at=AT, address="10.0.0.5", reason="association refused", meter_id=meter
    )
    (event,) = security_events(conn, AT, AT + timedelta(seconds=1))
    assert event["category"] == SecurityCategory.ATTEMPTED_COMPROMISE.value
    assert event["source_address"] == "10.0.0.5"
    assert event["details"]["meter_id"] == str(meter)


def test_sec3_one_title_from_two_addresses_at_once(conn: Connection) -> None:
    tracker = TitleTracker()
    title = b"MTR\x00\x00\x00\x00\x01"
    assert tracker.claim(title, "10.0.0.1") is None
    assert tracker.claim(title, "10.0.0.1") is None  # same address twice is not a clone
    clash = tracker.claim(title, "10.0.0.2")
    assert clash == ["10.0.0.1", "10.0.0.2"]
    title_seen_twice(conn, at=AT, system_title=title, addresses=clash)
    (event,) = security_events(conn, AT, AT + timedelta(seconds=1), SecurityCategory.COMPROMISE)
    assert event["details"]["system_title"] == title.hex()
    tracker.release(title, "10.0.0.2")
    tracker.release(title, "10.0.0.1")
    tracker.release(title, "10.0.0.1")
    assert tracker.claim(title, "10.0.0.3") is None  # sequential use from a new address is fine
