"""The MDM's own tables, on the store's metadata but apart from the raw data (DQ-5).

`vee_day` holds validated / estimated / edited versions of a day (one row per meter, channel, day
and version, packed like the raw rows plus one method byte per interval and the provenance of
every determined value, DQ-9); the latest version is the one served and earlier ones stay for
audit. `vee_finding` holds the findings of the latest validation run over a range.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
)

from metra.store.schema import SerialKey, metadata
from metra.store.sqltypes import UtcDateTime

vee_day = Table(
    "vee_day",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("version", Integer, nullable=False),
    Column("interval_s", Integer, nullable=False),
    Column("values", LargeBinary, nullable=False),
    Column("status", LargeBinary, nullable=False),
    Column("method", LargeBinary, nullable=False),
    Column("raw_version", Integer),
    Column("kind", String(16), nullable=False),  # vee / manual
    Column("provenance", JSON),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("reason", Text),
    PrimaryKeyConstraint("meter_id", "channel", "day", "version"),
    Index("ix_vee_day_day", "day"),
)

vee_finding = Table(
    "vee_finding",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Column("evidence", JSON),
    Column("found_at", UtcDateTime, nullable=False),
    Index("ix_vee_finding_meter_first", "meter_id", "first_at"),
)
