"""kpi: documented exclusions from the acquisition figures (KPI-2)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The table is declared in metra.mdm.kpi.schema on the store's metadata; importing it here
# registers it wherever migrations run (as 0003 does for the VEE tables).
import metra.mdm.kpi.schema
import metra.store.sqltypes

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_exclusion",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("meter_id", sa.Uuid(), nullable=True),
        sa.Column("feeder_id", sa.Uuid(), nullable=True),
        sa.Column("substation_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("starts_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["feeder_id"], ["feeder.id"], name=op.f("fk_kpi_exclusion_feeder_id")
        ),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_kpi_exclusion_meter_id")),
        sa.ForeignKeyConstraint(
            ["substation_id"], ["substation.id"], name=op.f("fk_kpi_exclusion_substation_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_exclusion")),
    )
    with op.batch_alter_table("kpi_exclusion", schema=None) as batch_op:
        batch_op.create_index("ix_kpi_exclusion_starts_at", ["starts_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kpi_exclusion", schema=None) as batch_op:
        batch_op.drop_index("ix_kpi_exclusion_starts_at")

    op.drop_table("kpi_exclusion")
