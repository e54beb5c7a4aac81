"""Stored billing determinants: one row per meter, month, tariff and version (BAL-2).

A record keeps the determinants of a local calendar month (daily and monthly figures) as JSON
together with the served VEE versions of every input day it used, so a later run can tell
whether the inputs changed (late data, a manual edit) and add a new version; earlier versions
stay for audit, like the VEE's own day versions (DQ-5).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
)

from metra.store.schema import metadata
from metra.store.sqltypes import UtcDateTime

billing_determinant = Table(
    "billing_determinant",
    metadata,
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("month", Date, nullable=False),  # first local day of the month
    Column("tariff", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("determinants", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),  # {channel: {day: served VEE version}}
    Column("computed_at", UtcDateTime, nullable=False),
    Column("computed_by", String(64), nullable=False),
    PrimaryKeyConstraint("meter_id", "month", "tariff", "version"),
    Index("ix_billing_determinant_month", "month"),
)
