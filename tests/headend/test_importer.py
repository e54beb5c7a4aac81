"""Meter import from a fleet inventory and from vendor key files (SEC-7): all or nothing."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from metra.dlms.keywrap import wrap_key
from metra.headend.errors import ImportFailed
from metra.headend.importer import import_file, read_file
from metra.headend.keystore import AssociationKeys, KeyStore, MasterKey
from metra.store.masterdata import Entity, as_of
from metra.store.schema import meter, meter_key

AT = datetime(2025, 3, 1, 8, tzinfo=UTC)
KEK = bytes(range(16))


def _keys() -> dict[tuple[str, int], AssociationKeys]:
    return {
        (interface, sap): AssociationKeys(secrets.token_bytes(16), secrets.token_bytes(16))
        for interface in ("wan", "optical")
        for sap in (1, 2, 3)
    }


def _title(i: int) -> bytes:
    return b"MTR" + i.to_bytes(5, "big")


def _w(key: bytes, kek: bytes = KEK) -> str:
    return wrap_key(kek, key).hex()


def fleet_inventory(meters: dict[str, dict[tuple[str, int], AssociationKeys]]) -> dict[str, Any]:
    """A document in the fleet engineer's inventory layout (metra.meter.inventory, v1)."""
    entries = []
    for i, (serial, keys) in enumerate(meters.items()):
        associations: dict[str, Any] = {"16": {"name": "public", "mechanism": "none", "suite": 0}}
        for sap in (1, 2, 3):
            associations[str(sap)] = {
                "name": f"sap{sap}",
                "mechanism": "hls-gmac",
                "suite": 0,
                **{
                    iface: {
                        "encryption": _w(keys[(iface, sap)].encryption_key),
                        "authentication": _w(keys[(iface, sap)].authentication_key),
                    }
                    for iface in ("wan", "optical")
                },
            }
        entries.append(
            {
                "serial": serial,
                "system_title": _title(i).hex(),
                "customer_type": "household",
                "phases": 1,
                "host": "127.0.0.1",
                "port": 4059 + i,
                "transport": "wrapper",
                "tls": False,
                "server_address": 1,
                "physical_address": 0,
                "security": "hls-gmac",
                "associations": associations,
                "han_key": _w(secrets.token_bytes(16)),
                "meter_public_key": None,
            }
        )
    return {
        "format": "metra-fleet-inventory",
        "version": 1,
        "created": "2025-03-01T00:00:00Z",
        "key_wrap": "aes-key-wrap-rfc3394",
        "seed": 1,
        "profile": "pl",
        "security": "hls-gmac",
        "transport": "wrapper",
        "tls_ca": None,
        "operator": None,
        "meters": entries,
    }


def vendor_json(meters: dict[str, dict[tuple[str, int], AssociationKeys]]) -> dict[str, Any]:
    return {
        "format": "metra-vendor-keys",
        "version": 1,
        "manufacturer": "MTR",
        "kek_label": "delivery-2025-03",
        "meters": [
            {
                "serial": serial,
                "system_title": _title(i).hex(),
                "keys": [
                    {"interface": iface, "client_sap": sap, "kind": kind, "wrapped": _w(key)}
                    for (iface, sap), pair in keys.items()
                    for kind, key in (("ek", pair.encryption_key), ("ak", pair.authentication_key))
                ],
            }
            for i, (serial, keys) in enumerate(meters.items())
        ],
    }


def vendor_xml(meters: dict[str, dict[tuple[str, int], AssociationKeys]]) -> str:
    lines = ['<KeyFile format="metra-vendor-keys" version="1" manufacturer="MTR">']
    for i, (serial, keys) in enumerate(meters.items()):
        lines.append(f'  <Meter serial="{serial}" systemTitle="{_title(i).hex()}">')
        for (iface, sap), pair in keys.items():
            for kind, key in (("ek", pair.encryption_key), ("ak", pair.authentication_key)):
                lines.append(
                    f'    <Key interface="{iface}" clientSap="{sap}" kind="{kind}">{_w(key)}</Key>'
                )
        lines.append("  </Meter>")
    lines.append("</KeyFile>")
    return "\n".join(lines)


def _count(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(meter)).scalar_one(),
            conn.execute(select(func.count()).select_from(meter_key)).scalar_one(),
        )


@pytest.mark.parametrize("layout", ["fleet", "vendor-json", "vendor-xml"])
def test_sec7_import_unwraps_and_seals_every_key(
    engine: Engine, tmp_path: Path, layout: str
) -> None:
    meters = {"MTR00000001": _keys(), "MTR00000002": _keys()}
    path = tmp_path / "delivery"
    if layout == "fleet":
        path.write_text(json.dumps(fleet_inventory(meters)))
    elif layout == "vendor-json":
        path.write_text(json.dumps(vendor_json(meters)))
    else:
        path.write_text(vendor_xml(meters))
    store = KeyStore(MasterKey.generate())
    ids, imported = import_file(engine, store, path, KEK, at=AT, by="import")
    assert set(ids) == set(meters)
    with engine.connect() as conn:
        for serial, keys in meters.items():
            for (iface, sap), pair in keys.items():
                assert store.association(conn, ids[serial], iface, sap) == pair
            attrs = as_of(conn, Entity.METER, ids[serial], date(2025, 3, 1))
            assert attrs is not None and attrs.attributes["serial"] == serial
    if layout == "fleet":
        assert imported[1].address is not None and imported[1].address.port == 4060
    shown = repr(imported)
    for keys in meters.values():
        assert all(pair.encryption_key.hex() not in shown for pair in keys.values())


def test_sec7_wrong_kek_imports_nothing(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "delivery.json"
    path.write_text(json.dumps(vendor_json({"A1": _keys(), "A2": _keys()})))
    store = KeyStore(MasterKey.generate())
    with pytest.raises(ImportFailed, match="key-encryption key") as info:
        import_file(engine, store, path, bytes(16), at=AT, by="import")
    assert "wrapped" not in str(info.value).split(":")[0]
    assert _count(engine) == (0, 0)


def test_sec7_one_altered_key_late_in_the_file_imports_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    document = vendor_json({f"B{i}": _keys() for i in range(5)})
    last = document["meters"][-1]["keys"][-1]
    last["wrapped"] = last["wrapped"][:-2] + ("00" if last["wrapped"][-2:] != "00" else "01")
    path = tmp_path / "delivery.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ImportFailed):
        import_file(engine, KeyStore(MasterKey.generate()), path, KEK, at=AT, by="import")
    assert _count(engine) == (0, 0)


def test_sec7_failure_while_storing_rolls_back_everything(engine: Engine, tmp_path: Path) -> None:
    store = KeyStore(MasterKey.generate())
    first = tmp_path / "first.json"
    first.write_text(json.dumps(vendor_json({"C1": _keys()})))
    import_file(engine, store, first, KEK, at=AT, by="import")
    before = _count(engine)
    # C2 is new, then C1 comes back with another system title: refused after C2 was written.
    document = vendor_json({"C2": _keys(), "C1": _keys()})
    path = tmp_path / "second.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ImportFailed, match="system title"):
        import_file(engine, store, path, KEK, at=AT, by="import")
    assert _count(engine) == before


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a file",
        b"[1, 2]",
        b'{"format": "metra-vendor-keys", "version": 2, "meters": []}',
        b'{"format": "metra-vendor-keys", "version": 1, "meters": [{"serial": "X"}]}',
        b'{"format": "metra-vendor-keys", "version": 1, "meters": [{"serial": "X", '
        b'"system_title": "00", "keys": []}]}',
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><KeyFile/>',
        b"<KeyFile format='metra-vendor-keys' version='1'><Meter serial='X'>",
        b'{"format": "metra-fleet-inventory", "version": 1, "meters": [{"serial": 1}]}',
    ],
)
def test_corrupt_files_give_a_typed_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ImportFailed):
        read_file(path, KEK)


def test_duplicate_serial_in_one_file_is_refused(tmp_path: Path) -> None:
    document = vendor_json({"D1": _keys()})
    document["meters"].append(document["meters"][0])
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ImportFailed, match="twice"):
        read_file(path, KEK)


def test_sec7_sto5_batched_import_audits_each_meter_once_without_key_material(
    engine: Engine, tmp_path: Path
) -> None:
    """SEC-7, STO-5: a batched import leaves one `meter.import` entry per meter naming every
    key written (interface, kind, version) and its first address, and no key material; a
    re-import retires the keys (version 2), keeps the ids and adds no second address."""
    from metra.store import addresses
    from metra.store.audit import entries

    meters = {"E1": _keys(), "E2": _keys()}
    path = tmp_path / "fleet.json"
    document = fleet_inventory(meters)
    path.write_text(json.dumps(document))
    store = KeyStore(MasterKey.generate())
    ids, imported = import_file(engine, store, path, KEK, at=AT, by="import")
    again, _ = import_file(engine, store, path, KEK, at=AT, by="import")
    assert again == ids
    with engine.connect() as conn:
        trail = [e for e in entries(conn) if e.action == "meter.import"]
        assert [e.target_id for e in trail] == [str(ids["E1"]), str(ids["E2"])] * 2
        for entry, version in zip(trail, (1, 1, 2, 2), strict=True):
            assert entry.details is not None
            stored = entry.details["keys_stored"]
            assert len(stored) == 13  # 6 associations x (ek, ak) and the HAN key
            assert {k["key_version"] for k in stored} == {version}
            assert ("wan", "ek.2") in {(k["interface"], k["kind"]) for k in stored}
        assert trail[0].details is not None and trail[0].details["address"].startswith("127.0")
        text = json.dumps([e.details for e in entries(conn)])
        for meter in imported:
            for pair in meter.keys.values():
                assert pair.encryption_key.hex() not in text
            assert meter.han_key is not None and meter.han_key.hex() not in text
        for serial, keys in meters.items():
            assert store.association(conn, ids[serial], "wan", 3) == keys[("wan", 3)]
            assert [a.version for a in addresses.history(conn, ids[serial])] == [1]
        current = conn.execute(
            select(func.count()).select_from(meter_key).where(meter_key.c.retired_at.is_(None))
        ).scalar_one()
        assert current == 26
