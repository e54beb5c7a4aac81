"""Well-known logical names, checked against the OBIS codes real meters and head-ends use."""

from __future__ import annotations

from decimal import Decimal

from metra.dlms.cosem import objects
from metra.dlms.cosem.enums import ClockBase, ClockStatus, SortMethod
from metra.dlms.cosem.units import ScalerUnit, Unit
from metra.dlms.obis import Obis


def test_logical_names_match_published_byte_forms() -> None:
    # 6-octet forms as they appear in public meter traces and head-end code (GitHub code index):
    # clock 0000010000FF, energy 0100010800FF, frequency 01000E0700FF (HDLC trace); disconnect
    # control "0.0.96.3.10.255", association "0.0.40.0.0.255" (same trace's comments); event logs
    # 0.0.99.98.0..5.255 (several AMR head-ends: standard, fraud, disconnector, M-Bus, power
    # quality, communication).
    assert objects.CLOCK.to_bytes().hex().upper() == "0000010000FF"
    assert objects.ACTIVE_ENERGY_IMPORT.to_bytes().hex().upper() == "0100010800FF"
    assert objects.FREQUENCY.to_bytes().hex().upper() == "01000E0700FF"
    assert Obis.parse("0.0.96.3.10.255") == objects.DISCONNECT_CONTROL
    assert objects.CURRENT_ASSOCIATION == objects.association(0) == Obis.parse("0.0.40.0.0.255")
    logs = [
        objects.STANDARD_EVENT_LOG,
        objects.FRAUD_DETECTION_LOG,
        objects.DISCONNECTOR_CONTROL_LOG,
        objects.MBUS_EVENT_LOG,
        objects.POWER_QUALITY_EVENT_LOG,
        objects.COMMUNICATION_EVENT_LOG,
    ]
    assert logs == [Obis.parse(f"0.0.99.98.{e}.255") for e in range(6)]
    assert logs == [objects.event_log(e) for e in range(6)]


def test_obis_groups_follow_the_standard_list() -> None:
    # DLMS UA list of standardised OBIS codes (as shipped with public DLMS libraries): Limiter
    # 0.0.17.0.0, Push setup 0.0.25.9.0, Image transfer 0.0.44.0.E, Security setup 0.0.43.0.E,
    # Activity calendar 0.0.13.0.E, Special days 0.0.11.0.E, Device ID 1 0.0.96.1.0, active
    # firmware identifier x.x.0.2.0, data of billing period 98.1 / 98.2, load profiles 99.1 / 99.2.
    expected = {
        objects.LIMITER: "0-0:17.0.0.255",
        objects.PUSH_SETUP: "0-0:25.9.0.255",
        objects.IMAGE_TRANSFER: "0-0:44.0.0.255",
        objects.security_setup(1): "0-0:43.0.1.255",
        objects.ACTIVITY_CALENDAR: "0-0:13.0.0.255",
        objects.SPECIAL_DAYS_TABLE: "0-0:11.0.0.255",
        objects.DEVICE_ID: "0-0:96.1.0.255",
        objects.ACTIVE_FIRMWARE_IDENTIFIER: "1-0:0.2.0.255",
        objects.BILLING_PROFILE_MONTHLY: "0-0:98.1.0.255",
        objects.BILLING_PROFILE_DAILY: "0-0:98.2.0.255",
        objects.LOAD_PROFILE_1: "1-0:99.1.0.255",
        objects.MAXIMUM_DEMAND_IMPORT: "1-0:1.6.0.255",
    }
    for code, text in expected.items():
        assert str(code) == text
    assert [str(o) for o in objects.ACTIVE_ENERGY_IMPORT_TARIFFS] == [
        f"1-0:1.8.{rate}.255" for rate in range(1, 5)
    ]
    assert [o.c for o in objects.REACTIVE_ENERGY_QUADRANTS] == [5, 6, 7, 8]
    # Phase quantities: L1, L2, L3 are C + 0, 20, 40 (current 31, voltage 32).
    assert [o.c for o in (objects.CURRENT_L1, objects.CURRENT_L2, objects.CURRENT_L3)] == [
        31,
        51,
        71,
    ]
    assert [o.c for o in (objects.VOLTAGE_L1, objects.VOLTAGE_L2, objects.VOLTAGE_L3)] == [
        32,
        52,
        72,
    ]


def test_clock_and_profile_enumerations() -> None:
    # Blue Book: clock status bit 0 invalid value .. bit 3 invalid clock status, bit 7 DST active.
    assert int(ClockStatus.INVALID_VALUE | ClockStatus.DAYLIGHT_SAVING_ACTIVE) == 0x81
    assert (ClockBase.INTERNAL_CRYSTAL, ClockBase.MAINS_50_HZ, ClockBase.GPS) == (1, 2, 4)
    assert (SortMethod.FIFO, SortMethod.LIFO, SortMethod.FARTHEST_FROM_ZERO) == (1, 2, 6)


def test_scaler_unit_scales_exactly() -> None:
    assert ScalerUnit(-1, Unit.WATT_HOUR).scale(12345) == Decimal("1234.5")
    assert ScalerUnit(3, Unit.WATT_HOUR).scale(7) == Decimal("7000")
