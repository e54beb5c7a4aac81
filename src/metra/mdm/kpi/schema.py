"""The KPI's own table: documented exclusions from the acquisition figures (KPI-2, migration 0005).

S1 16.9-16.10 lets the operator leave out a meter it had neither remote nor local access to
through the customer's fault or a grid failure, provided it shows and documents the circumstance.
Such a fact is not a meter event (the meter may know nothing of it) nor a system journal entry
(it is asserted by a person, with evidence), so it gets its own append-only table: one row per
documented circumstance for one meter, one feeder or one substation (a grid failure usually
takes out an area), with the period it lasted, the reference of its evidence and who recorded it.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, Uuid

from metra.store.schema import SerialKey, metadata
from metra.store.sqltypes import UtcDateTime

kpi_exclusion = Table(
    "kpi_exclusion",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("meter_id", Uuid, ForeignKey("meter.id")),
    Column("feeder_id", Uuid, ForeignKey("feeder.id")),
    Column("substation_id", Uuid, ForeignKey("substation.id")),
    Column("reason", String(32), nullable=False),  # customer_no_access / grid_failure
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime),  # open while the circumstance lasts
    Column("document", Text, nullable=False),  # reference of the evidence (S1 16.10)
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Index("ix_kpi_exclusion_starts_at", "starts_at"),
)
