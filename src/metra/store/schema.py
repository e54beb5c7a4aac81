"""The metering store's tables as SQLAlchemy Core metadata: the single source of the schema.

The Alembic migrations under `migrations/` must produce exactly this metadata (a test compares
them), so a change here always comes with a new migration. `docs/store.md` explains the choices:
master data as identity + version tables (GOST R 71331 Annex A.2 keeps every earlier attribute value
with its effective date), interval data as one row per meter, channel, day and version with packed
arrays, and append-only raw data (DQ-5).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from metra.store.sqltypes import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# An auto-incrementing surrogate key: 64-bit on PostgreSQL (journals outgrow 2**31 rows), the
# rowid-backed INTEGER on SQLite (the only type SQLite auto-increments).
SerialKey = BigInteger().with_variant(Integer(), "sqlite")


def _versioned(name: str, *attributes: Column[object]) -> tuple[Table, Table]:
    """Build an identity table `name` and its history table `name_version`.

    Why two tables: other rows point at the stable identity (a UUID, STO-3), while every change of
    an attribute adds a `name_version` row with the date it takes effect (`valid_from`) and when it
    was recorded (`recorded_at`, `recorded_by`: STO-5). Nothing is updated in place, so the value
    valid on any past date can be answered and the history is kept (Annex A.2).
    """
    identity = Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("created_at", UtcDateTime, nullable=False),
    )
    version = Table(
        f"{name}_version",
        metadata,
        Column("version_id", SerialKey, primary_key=True, autoincrement=True),
        Column("entity_id", Uuid, ForeignKey(f"{name}.id"), nullable=False),
        Column("valid_from", Date, nullable=False),
        Column("recorded_at", UtcDateTime, nullable=False),
        Column("recorded_by", String(64)),
        *attributes,
        Index(f"ix_{name}_version_entity_valid", "entity_id", "valid_from"),
    )
    return identity, version


# --- master data (STO-3, GOST R 71331 Annex A tables A.1 and A.2)

party, party_version = _versioned(
    "party",
    Column("role", String(16), nullable=False),  # consumer / supplier / network / other
    Column("is_person", Boolean, nullable=False),
    Column("name", String(300), nullable=False),
    Column("short_name", String(120)),
    Column("legal_form", String(60)),
    Column("tax_id", String(20)),
    Column("registration_code", String(20)),
)

substation, substation_version = _versioned(
    "substation",
    Column("code", String(40), nullable=False),
    Column("name", String(200)),
    Column("kind", String(16), nullable=False),  # e.g. MV/LV, HV/MV
    Column("primary_kv", Double),
    Column("secondary_kv", Double),
    Column("balancing_meter_id", Uuid, ForeignKey("meter.id")),  # BAL-1
)

feeder, feeder_version = _versioned(
    "feeder",
    Column("substation_id", Uuid, ForeignKey("substation.id"), nullable=False),
    Column("code", String(40), nullable=False),
    Column("name", String(200)),
    Column("voltage_kv", Double),
    Column("balancing_meter_id", Uuid, ForeignKey("meter.id")),  # BAL-1
)

delivery_point, delivery_point_version = _versioned(
    "delivery_point",
    Column("consumer_id", Uuid, ForeignKey("party.id")),
    Column("network_party_id", Uuid, ForeignKey("party.id")),
    Column("supplier_id", Uuid, ForeignKey("party.id")),
    Column("feeder_id", Uuid, ForeignKey("feeder.id")),
    Column("tariff_voltage_kv", Double),
    Column("consumer_group", String(40)),
    Column("address", Text),
    Column("address_code", String(64)),
    Column("max_power_kw", Double),
    Column("connection_voltage_kv", Double),
    Column("connection_point", Text),
    Column("balance_boundary", Text),
    Column("connection_method", String(16)),  # direct / indirect
)

meter, meter_version = _versioned(
    "meter",
    Column("serial", String(40), nullable=False),
    Column("manufacturer", String(80)),
    Column("model", String(80)),
    Column("firmware", String(80)),
    Column("system_title", LargeBinary(8)),
    Column("phases", SmallInteger),
    Column("wires", SmallInteger),
    Column("connection", String(16)),  # direct / semi_indirect / indirect
    Column("accuracy_class", String(16)),
    Column("manufacture_year", SmallInteger),
    Column("compliant", Boolean),
    Column("hourly_capable", Boolean),
    Column("tou_capable", Boolean),
    Column("commissioned_on", Date),
    Column("verified_on", Date),
    Column("verification_interval_years", SmallInteger),
    Column("inspected_on", Date),
    Column("removed_on", Date),
    Column("service_life_years", SmallInteger),
    Column("seals", JSON),
)

metering_point, metering_point_version = _versioned(
    "metering_point",
    Column("delivery_point_id", Uuid, ForeignKey("delivery_point.id"), nullable=False),
    Column("meter_id", Uuid, ForeignKey("meter.id")),
    Column("role", String(8), nullable=False),  # main / reserve
    Column("installation_place", Text),
    Column("on_balance_boundary", Boolean),
    Column("joined_on", Date),
    # Grid between the meter and the delivery point when not on the boundary (S2 4.2.6i, BAL-1):
    Column("meter_position", String(10)),  # upstream / downstream of the balance boundary
    Column("loss_transformer_kva", Double),
    Column("loss_no_load_kw", Double),
    Column("loss_load_kw", Double),  # short-circuit (load) losses at rated power
    Column("loss_line_ohm_per_km", Double),
    Column("loss_line_km", Double),
    Column("loss_line_kv", Double),
)

transformer, transformer_version = _versioned(
    "transformer",
    Column("metering_point_id", Uuid, ForeignKey("metering_point.id"), nullable=False),
    Column("kind", String(2), nullable=False),  # CT / VT
    Column("phase", String(2)),
    Column("model", String(80)),
    Column("serial", String(40)),
    Column("manufacture_year", SmallInteger),
    Column("accuracy_class", String(16)),
    Column("ratio_primary", Double),
    Column("ratio_secondary", Double),
    Column("installation_place", Text),
    Column("commissioned_on", Date),
    Column("verified_on", Date),
    Column("verification_interval_years", SmallInteger),
    Column("inspected_on", Date),
    Column("removed_on", Date),
    Column("service_life_years", SmallInteger),
    Column("seals", JSON),
)

# --- raw measurement data (DQ-1, DQ-2, DQ-5)

interval_day = Table(
    "interval_day",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("version", Integer, nullable=False),
    Column("interval_s", Integer, nullable=False),
    Column("values", LargeBinary, nullable=False),
    Column("status", LargeBinary, nullable=False),
    Column("changed", LargeBinary),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("source", String(64)),
    PrimaryKeyConstraint("meter_id", "channel", "day", "version"),
    Index("ix_interval_day_day", "day"),
)

register_reading = Table(
    "register_reading",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("obis", String(32), nullable=False),
    Column("captured_at", UtcDateTime, nullable=False),
    Column("raw_value", Double, nullable=False),
    Column("scaler", SmallInteger, nullable=False),
    Column("unit", SmallInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("read_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("meter_id", "obis", "captured_at"),
    Index("ix_register_reading_captured_at", "captured_at"),
)

billing_snapshot = Table(
    "billing_snapshot",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("period", String(1), nullable=False),  # D (daily) / M (monthly)
    Column("captured_at", UtcDateTime, nullable=False),
    Column("obis", String(32), nullable=False),
    Column("tariff_zone", SmallInteger, nullable=False),  # 0 = total
    Column("raw_value", Double, nullable=False),
    Column("scaler", SmallInteger, nullable=False),
    Column("unit", SmallInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("read_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("meter_id", "period", "captured_at", "obis", "tariff_zone"),
    Index("ix_billing_snapshot_captured_at", "captured_at"),
)

power_quality = Table(
    "power_quality",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("obis", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # average / min / max / sag / swell / interruption
    Column("captured_at", UtcDateTime, nullable=False),
    Column("raw_value", Double),
    Column("scaler", SmallInteger, nullable=False),
    Column("unit", SmallInteger, nullable=False),
    Column("duration_s", Double),
    Column("details", JSON),
    Column("read_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("meter_id", "obis", "kind", "captured_at"),
    Index("ix_power_quality_captured_at", "captured_at"),
)

meter_event = Table(
    "meter_event",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("log_obis", String(32), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("raw_code", Integer, nullable=False),
    Column("code", String(64), nullable=False),
    Column("details", JSON),
    Column("registered_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("meter_id", "log_obis", "occurred_at", "raw_code"),
    Index("ix_meter_event_occurred_at", "occurred_at"),
)

# --- the central system's own journals (EVT-3, SEC-8, SEC-9, STO-5)

system_event = Table(
    "system_event",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("meter_id", Uuid, ForeignKey("meter.id")),
    Column("details", JSON),
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledged_by", String(64)),
    Index("ix_system_event_occurred_at", "occurred_at"),
)

security_event = Table(
    "security_event",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("actor", String(64)),
    Column("source_address", String(64)),
    Column("description", Text, nullable=False),
    Column("details", JSON),
    Index("ix_security_event_occurred_at", "occurred_at"),
)

audit_record = Table(
    "audit_record",
    metadata,
    Column("seq", SerialKey, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_kind", String(32)),
    Column("target_id", String(64)),
    Column("details", JSON),
    Column("prev_hash", LargeBinary(64)),
    Column("hash", LargeBinary(64)),
    Index("ix_audit_record_at", "at"),
)

# --- head-end operation (KPI-5, SEC-7, CMD-*)

comm_diagnostic = Table(
    "comm_diagnostic",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), primary_key=True),
    Column("last_success_at", UtcDateTime),
    Column("last_failure_at", UtcDateTime),
    Column("last_failure_reason", String(200)),
    Column("success_count", BigInteger, nullable=False),
    Column("failure_count", BigInteger, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("signal_dbm", SmallInteger),
    Column("ip_address", String(64)),
    Column("imei", String(20)),
    Column("tcp_port", Integer),
)

meter_key = Table(
    "meter_key",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("interface", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("kek_id", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64)),
    Column("retired_at", UtcDateTime),
    UniqueConstraint("meter_id", "interface", "kind", "key_version"),
)

command = Table(
    "command",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("params", JSON),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64)),
    Column("not_before", UtcDateTime),
    Column("deadline", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("result", JSON),
    Index("ix_command_status_priority", "status", "priority"),
)
