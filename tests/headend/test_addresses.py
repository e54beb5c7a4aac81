"""Communication addresses in the store: imports keep them, changes are versioned and audited
(STO-3, STO-5), and the collector reads its targets from them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from metra.headend.collector import load_targets
from metra.headend.importer import import_file
from metra.headend.keystore import KeyStore, MasterKey
from metra.store import addresses
from metra.store.addresses import CommAddress
from metra.store.errors import InvalidData
from metra.store.masterdata import Entity, change
from metra.store.schema import audit_record

from .test_importer import KEK, _keys, fleet_inventory

AT = datetime(2025, 3, 1, 8, tzinfo=UTC)


def test_sto3_import_keeps_each_meters_address_and_the_collector_reads_targets(
    engine: Engine, tmp_path: Path
) -> None:
    meters = {f"MTR0000000{i}": _keys() for i in range(3)}
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(fleet_inventory(meters)))
    keystore = KeyStore(MasterKey.generate())
    ids, imported = import_file(engine, keystore, path, KEK, at=AT, by="import")
    again, _ = import_file(engine, keystore, path, KEK, at=AT + timedelta(hours=1), by="import")
    assert again == ids
    with engine.begin() as conn:
        for meter in imported:
            stored = addresses.current(conn, ids[meter.serial])
            assert meter.address is not None and stored is not None
            assert (stored.address.host, stored.address.port) == (
                meter.address.host,
                meter.address.port,
            )
            assert stored.version == 1  # the same address twice adds no version
        change(
            conn,
            Entity.METER,
            ids["MTR00000001"],
            {"commissioned_on": date(2025, 2, 1)},
            effective=date(2025, 3, 1),
            at=AT,
        )
        change(
            conn,
            Entity.METER,
            ids["MTR00000002"],
            {"removed_on": date(2025, 2, 20)},
            effective=date(2025, 3, 1),
            at=AT,
        )
        targets = load_targets(conn, on=date(2025, 3, 1))
    assert [t.serial for t in targets] == ["MTR00000000", "MTR00000001"]  # 2 was removed
    by_serial = {t.serial: t for t in targets}
    first = next(m for m in imported if m.serial == "MTR00000000")
    assert first.address is not None
    assert by_serial["MTR00000000"].port == first.address.port
    assert by_serial["MTR00000000"].system_title == first.system_title
    assert by_serial["MTR00000001"].commissioned == datetime(2025, 2, 1, tzinfo=UTC)


def test_sto5_address_change_is_versioned_and_audited(conn: Connection) -> None:
    from .conftest import add_meter

    meter_id = add_meter(conn, "MTR00000042", b"MTR\x00\x00\x00\x00\x2a")
    first = CommAddress("10.1.2.3", 4059, cell="SS-7")
    assert addresses.put(conn, meter_id, first, at=AT, by="ops") == 1
    moved = replace(first, host="10.9.9.9", transport="hdlc", client_address=3)
    later = AT + timedelta(days=10)
    assert addresses.put(conn, meter_id, moved, at=later, by="ops") == 2
    assert addresses.current(conn, meter_id).address == moved  # type: ignore[union-attr]
    history = addresses.history(conn, meter_id)
    assert [h.version for h in history] == [1, 2]
    assert history[0].retired_at == later and history[1].retired_at is None
    assert addresses.as_of(conn, meter_id, AT + timedelta(days=1)).address == first  # type: ignore[union-attr]
    assert addresses.as_of(conn, meter_id, AT - timedelta(days=1)) is None
    audited = conn.execute(
        select(audit_record.c.details).where(audit_record.c.action == "meter.address")
    ).all()
    assert [d[0]["to"] for d in audited] == ["10.1.2.3:4059", "10.9.9.9:4059"]
    (target,) = load_targets(conn, on=date(2025, 3, 20))
    assert (target.host, target.transport, target.reading_sap, target.substation) == (
        "10.9.9.9",
        "hdlc",
        3,
        "SS-7",
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"host": ""},
        {"port": 0},
        {"port": 70000},
        {"transport": "smoke-signals"},
        {"client_address": 200},
        {"server_address": -1},
    ],
)
def test_bad_address_is_a_typed_error(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"host": "127.0.0.1", "port": 4059, **bad}
    with pytest.raises(InvalidData):
        CommAddress(**fields)  # type: ignore[arg-type]
