"""Well-known logical names (OBIS codes) of a smart electricity meter, as data.

Sources: the DLMS UA list of standardised OBIS codes / Blue Book part 2 (IEC 62056-6-1) for the
groups, and the IDIS companion specification where the standard leaves the instance open (which
event log is which, which billing scheme is monthly). The virtual meter and the head-end both use
these constants, so a meter built here answers at the names a real head-end asks for.
"""

from __future__ import annotations

from ..obis import Obis

__all__ = [
    "ACTIVE_ENERGY_EXPORT",
    "ACTIVE_ENERGY_IMPORT",
    "ACTIVE_ENERGY_IMPORT_PERIOD",
    "ACTIVE_ENERGY_IMPORT_TARIFFS",
    "ACTIVE_FIRMWARE_IDENTIFIER",
    "ACTIVE_POWER_EXPORT",
    "ACTIVE_POWER_IMPORT",
    "ACTIVITY_CALENDAR",
    "BILLING_PROFILE_DAILY",
    "BILLING_PROFILE_MONTHLY",
    "CLOCK",
    "COMMUNICATION_EVENT_LOG",
    "CURRENT_ASSOCIATION",
    "CURRENT_L1",
    "CURRENT_L2",
    "CURRENT_L3",
    "CURRENT_NEUTRAL",
    "DEVICE_ID",
    "DISCONNECTOR_CONTROL_LOG",
    "DISCONNECT_CONTROL",
    "DISCONNECT_CONTROL_SCHEDULE",
    "DISCONNECT_CONTROL_SCRIPT_TABLE",
    "END_OF_BILLING_PERIOD_SCHEDULE",
    "FRAUD_DETECTION_LOG",
    "FREQUENCY",
    "IMAGE_ACTIVATION_SCHEDULE",
    "IMAGE_TRANSFER",
    "LIMITER",
    "LOAD_PROFILE_1",
    "LOAD_PROFILE_2",
    "LOGICAL_DEVICE_NAME",
    "MAXIMUM_DEMAND_IMPORT",
    "MBUS_EVENT_LOG",
    "POWER_FACTOR",
    "POWER_QUALITY_EVENT_LOG",
    "PUSH_SCRIPT_TABLE",
    "PUSH_SETUP",
    "REACTIVE_ENERGY_EXPORT",
    "REACTIVE_ENERGY_IMPORT",
    "REACTIVE_ENERGY_QUADRANTS",
    "SAP_ASSIGNMENT",
    "SPECIAL_DAYS_TABLE",
    "STANDARD_EVENT_LOG",
    "TARIFF_SCRIPT_TABLE",
    "VOLTAGE_L1",
    "VOLTAGE_L2",
    "VOLTAGE_L3",
    "association",
    "event_log",
    "security_setup",
]

# --- abstract objects (A = 0) ----------------------------------------------------------------

#: Clock (class 8): C = 1.
CLOCK = Obis(0, 0, 1, 0, 0, 255)
#: Association LN (class 15) 0-0:40.0.0.255 always names the association in use.
CURRENT_ASSOCIATION = Obis(0, 0, 40, 0, 0, 255)
#: SAP assignment (class 17).
SAP_ASSIGNMENT = Obis(0, 0, 41, 0, 0, 255)
#: COSEM logical device name (Data, octet-string).
LOGICAL_DEVICE_NAME = Obis(0, 0, 42, 0, 0, 255)
#: Image transfer (class 18), first instance.
IMAGE_TRANSFER = Obis(0, 0, 44, 0, 0, 255)
#: Activity calendar (class 20), first instance.
ACTIVITY_CALENDAR = Obis(0, 0, 13, 0, 0, 255)
#: Special days table (class 11), first instance.
SPECIAL_DAYS_TABLE = Obis(0, 0, 11, 0, 0, 255)
#: Tariffication script table (class 9).
TARIFF_SCRIPT_TABLE = Obis(0, 0, 10, 0, 100, 255)
#: Disconnect control script table (class 9).
DISCONNECT_CONTROL_SCRIPT_TABLE = Obis(0, 0, 10, 0, 106, 255)
#: Push script table (class 9).
PUSH_SCRIPT_TABLE = Obis(0, 0, 10, 0, 108, 255)
#: Single action schedules (class 22): end of billing period, disconnect control, image activation.
END_OF_BILLING_PERIOD_SCHEDULE = Obis(0, 0, 15, 0, 0, 255)
DISCONNECT_CONTROL_SCHEDULE = Obis(0, 0, 15, 0, 1, 255)
IMAGE_ACTIVATION_SCHEDULE = Obis(0, 0, 15, 0, 2, 255)
#: Limiter (class 71), first instance.
LIMITER = Obis(0, 0, 17, 0, 0, 255)
#: Push setup (class 40), first instance.
PUSH_SETUP = Obis(0, 0, 25, 9, 0, 255)
#: Device ID 1, manufacturing number (Data).
DEVICE_ID = Obis(0, 0, 96, 1, 0, 255)
#: Disconnect control (class 70), first instance.
DISCONNECT_CONTROL = Obis(0, 0, 96, 3, 10, 255)

#: Data of billing period, scheme 1 (Profile generic); monthly billing in IDIS.
BILLING_PROFILE_MONTHLY = Obis(0, 0, 98, 1, 0, 255)
#: Data of billing period, scheme 2 (Profile generic); daily billing values.
BILLING_PROFILE_DAILY = Obis(0, 0, 98, 2, 0, 255)

#: Event logs (Profile generic) 0-0:99.98.E.255; the instance assignment is IDIS's.
STANDARD_EVENT_LOG = Obis(0, 0, 99, 98, 0, 255)
FRAUD_DETECTION_LOG = Obis(0, 0, 99, 98, 1, 255)
DISCONNECTOR_CONTROL_LOG = Obis(0, 0, 99, 98, 2, 255)
MBUS_EVENT_LOG = Obis(0, 0, 99, 98, 3, 255)
POWER_QUALITY_EVENT_LOG = Obis(0, 0, 99, 98, 4, 255)
COMMUNICATION_EVENT_LOG = Obis(0, 0, 99, 98, 5, 255)


def association(instance: int) -> Obis:
    """Association LN instance ``instance`` (0-0:40.0.E.255; E = 0 is the current one)."""
    return Obis(0, 0, 40, 0, instance, 255)


def security_setup(instance: int) -> Obis:
    """Security setup instance ``instance`` (0-0:43.0.E.255), usually one per association."""
    return Obis(0, 0, 43, 0, instance, 255)


def invocation_counter_object(instance: int) -> Obis:
    """Invocation counter of security setup ``instance`` (0-0:43.1.E.255, a Data object): the
    counter a client continues from (IDIS publishes it to the Public client)."""
    return Obis(0, 0, 43, 1, instance, 255)


def event_log(instance: int) -> Obis:
    """Event log instance ``instance`` (0-0:99.98.E.255)."""
    return Obis(0, 0, 99, 98, instance, 255)


# --- electricity objects (A = 1) -------------------------------------------------------------

#: Active firmware identifier of the metrology part (Data).
ACTIVE_FIRMWARE_IDENTIFIER = Obis(1, 0, 0, 2, 0, 255)

#: Active energy import (+A) and export (-A), total: C = 1 / 2, D = 8 (time integral 1).
ACTIVE_ENERGY_IMPORT = Obis(1, 0, 1, 8, 0, 255)
ACTIVE_ENERGY_EXPORT = Obis(1, 0, 2, 8, 0, 255)
#: Active energy import over the integration period (D = 29, "time integral 5"): the load
#: profile's A+ column in IDIS meters.
ACTIVE_ENERGY_IMPORT_PERIOD = Obis(1, 0, 1, 29, 0, 255)
#: Active energy import per tariff rate 1..4 (E = rate).
ACTIVE_ENERGY_IMPORT_TARIFFS = tuple(Obis(1, 0, 1, 8, rate, 255) for rate in (1, 2, 3, 4))
#: Reactive energy import (+R, QI + QII) and export (-R, QIII + QIV).
REACTIVE_ENERGY_IMPORT = Obis(1, 0, 3, 8, 0, 255)
REACTIVE_ENERGY_EXPORT = Obis(1, 0, 4, 8, 0, 255)
#: Reactive energy per quadrant QI..QIV: C = 5..8.
REACTIVE_ENERGY_QUADRANTS = tuple(Obis(1, 0, c, 8, 0, 255) for c in (5, 6, 7, 8))

#: Maximum demand of active power import (Extended register), D = 6.
MAXIMUM_DEMAND_IMPORT = Obis(1, 0, 1, 6, 0, 255)

#: Instantaneous values: D = 7.
ACTIVE_POWER_IMPORT = Obis(1, 0, 1, 7, 0, 255)
ACTIVE_POWER_EXPORT = Obis(1, 0, 2, 7, 0, 255)
POWER_FACTOR = Obis(1, 0, 13, 7, 0, 255)
FREQUENCY = Obis(1, 0, 14, 7, 0, 255)
CURRENT_L1 = Obis(1, 0, 31, 7, 0, 255)
CURRENT_L2 = Obis(1, 0, 51, 7, 0, 255)
CURRENT_L3 = Obis(1, 0, 71, 7, 0, 255)
CURRENT_NEUTRAL = Obis(1, 0, 91, 7, 0, 255)
VOLTAGE_L1 = Obis(1, 0, 32, 7, 0, 255)
VOLTAGE_L2 = Obis(1, 0, 52, 7, 0, 255)
VOLTAGE_L3 = Obis(1, 0, 72, 7, 0, 255)

#: Load profiles (Profile generic) with recording period 1 (e.g. 15 min) and 2 (e.g. daily).
LOAD_PROFILE_1 = Obis(1, 0, 99, 1, 0, 255)
LOAD_PROFILE_2 = Obis(1, 0, 99, 2, 0, 255)
