"""Master data with effective-dated history (STO-3, STO-4; GOST R 71331 Annex A.2-A.4)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection

from metra.store.errors import InvalidData, NotFound
from metra.store.masterdata import Entity, as_of, change, create, find, history, linkage

JAN = date(2024, 1, 1)
JUN = date(2024, 6, 1)


def test_sto3_every_attribute_change_is_versioned_and_as_of_returns_then_valid(
    conn: Connection,
) -> None:
    meter = create(
        conn,
        Entity.METER,
        {"serial": "123", "manufacturer": "Acme", "firmware": "1.0", "phases": 3},
        effective=JAN,
        by="alice",
    )
    change(conn, Entity.METER, meter, {"firmware": "1.1"}, effective=JUN, by="bob")
    before = as_of(conn, Entity.METER, meter, date(2024, 5, 31))
    after = as_of(conn, Entity.METER, meter, JUN)
    assert before is not None and before.attributes["firmware"] == "1.0"
    assert after is not None and after.attributes["firmware"] == "1.1"
    assert after.attributes["manufacturer"] == "Acme" and after.recorded_by == "bob"
    assert as_of(conn, Entity.METER, meter, date(2023, 12, 31)) is None
    assert [v.valid_from for v in history(conn, Entity.METER, meter)] == [JAN, JUN]


def test_sto3_correction_for_the_same_date_keeps_the_earlier_record(conn: Connection) -> None:
    party = create(
        conn,
        Entity.PARTY,
        {"role": "consumer", "is_person": True, "name": "Ivanov"},
        effective=JAN,
        at=datetime(2024, 1, 2, tzinfo=UTC),
    )
    change(
        conn,
        Entity.PARTY,
        party,
        {"name": "Ivanova"},
        effective=JAN,
        at=datetime(2024, 1, 3, tzinfo=UTC),
    )
    current = as_of(conn, Entity.PARTY, party, JAN)
    assert current is not None and current.attributes["name"] == "Ivanova"
    assert [v.attributes["name"] for v in history(conn, Entity.PARTY, party)] == [
        "Ivanov",
        "Ivanova",
    ]


def test_sto3_delivery_point_with_main_and_reserve_metering_points_and_transformers(
    conn: Connection,
) -> None:
    consumer = create(
        conn,
        Entity.PARTY,
        {"role": "consumer", "is_person": False, "name": "Plant", "tax_id": "7700000000"},
        effective=JAN,
    )
    supplier = create(
        conn, Entity.PARTY, {"role": "supplier", "is_person": False, "name": "Sbyt"}, effective=JAN
    )
    sub = create(
        conn,
        Entity.SUBSTATION,
        {"code": "TP-12", "kind": "MV/LV", "primary_kv": 10.0, "secondary_kv": 0.4},
        effective=JAN,
    )
    feeder = create(conn, Entity.FEEDER, {"substation_id": sub, "code": "F3"}, effective=JAN)
    dp = create(
        conn,
        Entity.DELIVERY_POINT,
        {
            "consumer_id": consumer,
            "supplier_id": supplier,
            "feeder_id": feeder,
            "max_power_kw": 150.0,
            "connection_method": "direct",
        },
        effective=JAN,
    )
    main_meter = create(
        conn, Entity.METER, {"serial": "M-1", "system_title": b"ABC12345"}, effective=JAN
    )
    reserve_meter = create(conn, Entity.METER, {"serial": "M-2"}, effective=JAN)
    main = create(
        conn,
        Entity.METERING_POINT,
        {
            "delivery_point_id": dp,
            "meter_id": main_meter,
            "role": "main",
            "installation_place": "TP-12 LV",
        },
        effective=JAN,
    )
    create(
        conn,
        Entity.METERING_POINT,
        {"delivery_point_id": dp, "meter_id": reserve_meter, "role": "reserve"},
        effective=JAN,
    )
    ct = create(
        conn,
        Entity.TRANSFORMER,
        {
            "metering_point_id": main,
            "kind": "CT",
            "phase": "L1",
            "ratio_primary": 200.0,
            "ratio_secondary": 5.0,
            "accuracy_class": "0.5S",
        },
        effective=JAN,
    )
    assert len(find(conn, Entity.METERING_POINT, JUN, delivery_point_id=dp)) == 2
    assert find(conn, Entity.METER, JUN, system_title=b"ABC12345") == [main_meter]
    ratio = as_of(conn, Entity.TRANSFORMER, ct, JUN)
    assert ratio is not None and ratio.attributes["ratio_primary"] == 200.0
    # STO-4: a value of the main meter is tied to place, points and parties on its date.
    link = linkage(conn, main_meter, JUN)
    assert (link.metering_point_id, link.delivery_point_id) == (main, dp)
    assert (link.role, link.installation_place) == ("main", "TP-12 LV")
    assert (link.consumer_id, link.supplier_id, link.feeder_id) == (consumer, supplier, feeder)


def test_sto4_meter_exchange_moves_the_link_from_its_effective_date(conn: Connection) -> None:
    dp = create(conn, Entity.DELIVERY_POINT, {}, effective=JAN)
    old = create(conn, Entity.METER, {"serial": "OLD"}, effective=JAN)
    new = create(conn, Entity.METER, {"serial": "NEW"}, effective=JUN)
    point = create(
        conn,
        Entity.METERING_POINT,
        {"delivery_point_id": dp, "meter_id": old, "role": "main"},
        effective=JAN,
    )
    change(conn, Entity.METERING_POINT, point, {"meter_id": new}, effective=JUN)
    assert linkage(conn, old, date(2024, 3, 1)).metering_point_id == point
    assert linkage(conn, new, JUN).metering_point_id == point
    with pytest.raises(NotFound):
        linkage(conn, old, JUN)


def test_unknown_attributes_and_missing_entities_are_refused(conn: Connection) -> None:
    with pytest.raises(InvalidData):
        create(conn, Entity.METER, {"serial": "1", "colour": "red"}, effective=JAN)
    meter = create(conn, Entity.METER, {"serial": "1"}, effective=JUN)
    with pytest.raises(NotFound):
        change(conn, Entity.METER, meter, {"firmware": "2"}, effective=JAN)
