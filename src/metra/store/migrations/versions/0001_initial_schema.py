"""initial schema

Revision ID: 0001
Revises: none
Create Date: 2026-11-21 10:57:34.636883
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import metra.store.sqltypes

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_record",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_kind", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(length=64), nullable=True),
        sa.Column("hash", sa.LargeBinary(length=64), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_record")),
    )
    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.create_index("ix_audit_record_at", ["at"], unique=False)

    op.create_table(
        "delivery_point",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_point")),
    )
    op.create_table(
        "feeder",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeder")),
    )
    op.create_table(
        "meter",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter")),
    )
    op.create_table(
        "metering_point",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metering_point")),
    )
    op.create_table(
        "party",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party")),
    )
    op.create_table(
        "security_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_event")),
    )
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.create_index("ix_security_event_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "substation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substation")),
    )
    op.create_table(
        "transformer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transformer")),
    )
    op.create_table(
        "billing_snapshot",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=1), nullable=False),
        sa.Column("captured_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("obis", sa.String(length=32), nullable=False),
        sa.Column("tariff_zone", sa.SmallInteger(), nullable=False),
        sa.Column("raw_value", sa.Double(), nullable=False),
        sa.Column("scaler", sa.SmallInteger(), nullable=False),
        sa.Column("unit", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("read_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meter.id"], name=op.f("fk_billing_snapshot_meter_id")
        ),
        sa.PrimaryKeyConstraint(
            "meter_id",
            "period",
            "captured_at",
            "obis",
            "tariff_zone",
            name=op.f("pk_billing_snapshot"),
        ),
    )
    with op.batch_alter_table("billing_snapshot", schema=None) as batch_op:
        batch_op.create_index("ix_billing_snapshot_captured_at", ["captured_at"], unique=False)

    op.create_table(
        "comm_diagnostic",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column(
            "last_success_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_failure_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_failure_reason", sa.String(length=200), nullable=True),
        sa.Column("success_count", sa.BigInteger(), nullable=False),
        sa.Column("failure_count", sa.BigInteger(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("signal_dbm", sa.SmallInteger(), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("imei", sa.String(length=20), nullable=True),
        sa.Column("tcp_port", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meter.id"], name=op.f("fk_comm_diagnostic_meter_id")
        ),
        sa.PrimaryKeyConstraint("meter_id", name=op.f("pk_comm_diagnostic")),
    )
    op.create_table(
        "command",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("not_before", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("deadline", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_command_meter_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command")),
    )
    with op.batch_alter_table("command", schema=None) as batch_op:
        batch_op.create_index("ix_command_status_priority", ["status", "priority"], unique=False)

    op.create_table(
        "delivery_point_version",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("consumer_id", sa.Uuid(), nullable=True),
        sa.Column("network_party_id", sa.Uuid(), nullable=True),
        sa.Column("supplier_id", sa.Uuid(), nullable=True),
        sa.Column("feeder_id", sa.Uuid(), nullable=True),
        sa.Column("tariff_voltage_kv", sa.Double(), nullable=True),
        sa.Column("consumer_group", sa.String(length=40), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("address_code", sa.String(length=64), nullable=True),
        sa.Column("max_power_kw", sa.Double(), nullable=True),
        sa.Column("connection_voltage_kv", sa.Double(), nullable=True),
        sa.Column("connection_point", sa.Text(), nullable=True),
        sa.Column("balance_boundary", sa.Text(), nullable=True),
        sa.Column("connection_method", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["consumer_id"], ["party.id"], name=op.f("fk_delivery_point_version_consumer_id")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["delivery_point.id"], name=op.f("fk_delivery_point_version_entity_id")
        ),
        sa.ForeignKeyConstraint(
            ["feeder_id"], ["feeder.id"], name=op.f("fk_delivery_point_version_feeder_id")
        ),
        sa.ForeignKeyConstraint(
            ["network_party_id"],
            ["party.id"],
            name=op.f("fk_delivery_point_version_network_party_id"),
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["party.id"], name=op.f("fk_delivery_point_version_supplier_id")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_delivery_point_version")),
    )
    with op.batch_alter_table("delivery_point_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delivery_point_version_entity_valid", ["entity_id", "valid_from"], unique=False
        )

    op.create_table(
        "feeder_version",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("substation_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("voltage_kv", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["feeder.id"], name=op.f("fk_feeder_version_entity_id")
        ),
        sa.ForeignKeyConstraint(
            ["substation_id"], ["substation.id"], name=op.f("fk_feeder_version_substation_id")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_feeder_version")),
    )
    with op.batch_alter_table("feeder_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feeder_version_entity_valid", ["entity_id", "valid_from"], unique=False
        )

    op.create_table(
        "interval_day",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("values", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.LargeBinary(), nullable=False),
        sa.Column("changed", sa.LargeBinary(), nullable=True),
        sa.Column("registered_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_interval_day_meter_id")),
        sa.PrimaryKeyConstraint(
            "meter_id", "channel", "day", "version", name=op.f("pk_interval_day")
        ),
    )
    with op.batch_alter_table("interval_day", schema=None) as batch_op:
        batch_op.create_index("ix_interval_day_day", ["day"], unique=False)

    op.create_table(
        "meter_event",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("log_obis", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("raw_code", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("registered_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_meter_event_meter_id")),
        sa.PrimaryKeyConstraint(
            "meter_id", "log_obis", "occurred_at", "raw_code", name=op.f("pk_meter_event")
        ),
    )
    with op.batch_alter_table("meter_event", schema=None) as batch_op:
        batch_op.create_index("ix_meter_event_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "meter_key",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("interface", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("retired_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_meter_key_meter_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_key")),
        sa.UniqueConstraint(
            "meter_id",
            "interface",
            "kind",
            "key_version",
            name=op.f("uq_meter_key_meter_id_interface_kind_key_version"),
        ),
    )
    op.create_table(
        "meter_version",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("manufacturer", sa.String(length=80), nullable=True),
        sa.Column("model", sa.String(length=80), nullable=True),
        sa.Column("firmware", sa.String(length=80), nullable=True),
        sa.Column("system_title", sa.LargeBinary(length=8), nullable=True),
        sa.Column("phases", sa.SmallInteger(), nullable=True),
        sa.Column("wires", sa.SmallInteger(), nullable=True),
        sa.Column("connection", sa.String(length=16), nullable=True),
        sa.Column("accuracy_class", sa.String(length=16), nullable=True),
        sa.Column("manufacture_year", sa.SmallInteger(), nullable=True),
        sa.Column("compliant", sa.Boolean(), nullable=True),
        sa.Column("hourly_capable", sa.Boolean(), nullable=True),
        sa.Column("tou_capable", sa.Boolean(), nullable=True),
        sa.Column("commissioned_on", sa.Date(), nullable=True),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("verification_interval_years", sa.SmallInteger(), nullable=True),
        sa.Column("inspected_on", sa.Date(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("service_life_years", sa.SmallInteger(), nullable=True),
        sa.Column("seals", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["meter.id"], name=op.f("fk_meter_version_entity_id")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_meter_version")),
    )
    with op.batch_alter_table("meter_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meter_version_entity_valid", ["entity_id", "valid_from"], unique=False
        )

    op.create_table(
        "metering_point_version",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("delivery_point_id", sa.Uuid(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("installation_place", sa.Text(), nullable=True),
        sa.Column("on_balance_boundary", sa.Boolean(), nullable=True),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_point_id"],
            ["delivery_point.id"],
            name=op.f("fk_metering_point_version_delivery_point_id"),
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["metering_point.id"], name=op.f("fk_metering_point_version_entity_id")
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meter.id"], name=op.f("fk_metering_point_version_meter_id")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_metering_point_version")),
    )
    with op.batch_alter_table("metering_point_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metering_point_version_entity_valid", ["entity_id", "valid_from"], unique=False
        )

    op.create_table(
        "party_version",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_person", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("short_name", sa.String(length=120), nullable=True),
        sa.Column("legal_form", sa.String(length=60), nullable=True),
        sa.Column("tax_id", sa.String(length=20), nullable=True),
        sa.Column("registration_code", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["party.id"], name=op.f("fk_party_version_entity_id")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_party_version")),
    )
    with op.batch_alter_table("party_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_party_version_entity_valid", ["entity_id", "valid_from"], unique=False
        )

    op.create_table(
        "power_quality",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("obis", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("captured_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("raw_value", sa.Double(), nullable=True),
        sa.Column("scaler", sa.SmallInteger(), nullable=False),
        sa.Column("unit", sa.SmallInteger(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("read_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_power_quality_meter_id")),
        sa.PrimaryKeyConstraint(
            "meter_id", "obis", "kind", "captured_at", name=op.f("pk_power_quality")
        ),
    )
    with op.batch_alter_table("power_quality", schema=None) as batch_op:
        batch_op.create_index("ix_power_quality_captured_at", ["captured_at"], unique=False)

    op.create_table(
        "register_reading",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("obis", sa.String(length=32), nullable=False),
        sa.Column("captured_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("raw_value", sa.Double(), nullable=False),
        sa.Column("scaler", sa.SmallInteger(), nullable=False),
        sa.Column("unit", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("read_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meter.id"], name=op.f("fk_register_reading_meter_id")
        ),
        sa.PrimaryKeyConstraint(
            "meter_id", "obis", "captured_at", name=op.f("pk_register_reading")
        ),
    )
    with op.batch_alter_table("register_reading", schema=None) as batch_op:
        batch_op.create_index("ix_register_reading_captured_at", ["captured_at"], unique=False)

    op.create_table(
        "substation_version",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("primary_kv", sa.Double(), nullable=True),
        sa.Column("secondary_kv", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["substation.id"], name=op.f("fk_substation_version_entity_id")
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_substation_version")),
    )
    with op.batch_alter_table("substation_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_substation_version_entity_valid", ["entity_id", "valid_from"], unique=False
        )

    op.create_table(
        "system_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column(
            "acknowledged_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_system_event_meter_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_event")),
    )
    with op.batch_alter_table("system_event", schema=None) as batch_op:
        batch_op.create_index("ix_system_event_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "transformer_version",
        sa.Column(
            "version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("metering_point_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        sa.Column("phase", sa.String(length=2), nullable=True),
        sa.Column("model", sa.String(length=80), nullable=True),
        sa.Column("serial", sa.String(length=40), nullable=True),
        sa.Column("manufacture_year", sa.SmallInteger(), nullable=True),
        sa.Column("accuracy_class", sa.String(length=16), nullable=True),
        sa.Column("ratio_primary", sa.Double(), nullable=True),
        sa.Column("ratio_secondary", sa.Double(), nullable=True),
        sa.Column("installation_place", sa.Text(), nullable=True),
        sa.Column("commissioned_on", sa.Date(), nullable=True),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("verification_interval_years", sa.SmallInteger(), nullable=True),
        sa.Column("inspected_on", sa.Date(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("service_life_years", sa.SmallInteger(), nullable=True),
        sa.Column("seals", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["transformer.id"], name=op.f("fk_transformer_version_entity_id")
        ),
        sa.ForeignKeyConstraint(
            ["metering_point_id"],
            ["metering_point.id"],
            name=op.f("fk_transformer_version_metering_point_id"),
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_transformer_version")),
    )
    with op.batch_alter_table("transformer_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transformer_version_entity_valid", ["entity_id", "valid_from"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("transformer_version", schema=None) as batch_op:
        batch_op.drop_index("ix_transformer_version_entity_valid")

    op.drop_table("transformer_version")
    with op.batch_alter_table("system_event", schema=None) as batch_op:
        batch_op.drop_index("ix_system_event_occurred_at")

    op.drop_table("system_event")
    with op.batch_alter_table("substation_version", schema=None) as batch_op:
        batch_op.drop_index("ix_substation_version_entity_valid")

    op.drop_table("substation_version")
    with op.batch_alter_table("register_reading", schema=None) as batch_op:
        batch_op.drop_index("ix_register_reading_captured_at")

    op.drop_table("register_reading")
    with op.batch_alter_table("power_quality", schema=None) as batch_op:
        batch_op.drop_index("ix_power_quality_captured_at")

    op.drop_table("power_quality")
    with op.batch_alter_table("party_version", schema=None) as batch_op:
        batch_op.drop_index("ix_party_version_entity_valid")

    op.drop_table("party_version")
    with op.batch_alter_table("metering_point_version", schema=None) as batch_op:
        batch_op.drop_index("ix_metering_point_version_entity_valid")

    op.drop_table("metering_point_version")
    with op.batch_alter_table("meter_version", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_version_entity_valid")

    op.drop_table("meter_version")
    op.drop_table("meter_key")
    with op.batch_alter_table("meter_event", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_event_occurred_at")

    op.drop_table("meter_event")
    with op.batch_alter_table("interval_day", schema=None) as batch_op:
        batch_op.drop_index("ix_interval_day_day")

    op.drop_table("interval_day")
    with op.batch_alter_table("feeder_version", schema=None) as batch_op:
        batch_op.drop_index("ix_feeder_version_entity_valid")

    op.drop_table("feeder_version")
    with op.batch_alter_table("delivery_point_version", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_point_version_entity_valid")

    op.drop_table("delivery_point_version")
    with op.batch_alter_table("command", schema=None) as batch_op:
        batch_op.drop_index("ix_command_status_priority")

    op.drop_table("command")
    op.drop_table("comm_diagnostic")
    with op.batch_alter_table("billing_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_snapshot_captured_at")

    op.drop_table("billing_snapshot")
    op.drop_table("transformer")
    op.drop_table("substation")
    with op.batch_alter_table("security_event", schema=None) as batch_op:
        batch_op.drop_index("ix_security_event_occurred_at")

    op.drop_table("security_event")
    op.drop_table("party")
    op.drop_table("metering_point")
    op.drop_table("meter")
    op.drop_table("feeder")
    op.drop_table("delivery_point")
    with op.batch_alter_table("audit_record", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_record_at")

    op.drop_table("audit_record")
