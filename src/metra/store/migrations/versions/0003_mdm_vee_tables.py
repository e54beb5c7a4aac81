"""mdm: validated / estimated day versions and validation findings, apart from raw data (DQ-5)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:08:13.034724
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The tables are declared in metra.mdm.schema on the store's metadata; importing it here registers
# them wherever migrations run, so comparing the migrated database with the metadata sees them.
import metra.mdm.schema
import metra.store.sqltypes

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vee_day",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("values", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.LargeBinary(), nullable=False),
        sa.Column("method", sa.LargeBinary(), nullable=False),
        sa.Column("raw_version", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=True),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_vee_day_meter_id")),
        sa.PrimaryKeyConstraint("meter_id", "channel", "day", "version", name=op.f("pk_vee_day")),
    )
    with op.batch_alter_table("vee_day", schema=None) as batch_op:
        batch_op.create_index("ix_vee_day_day", ["day"], unique=False)

    op.create_table(
        "vee_finding",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("first_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("found_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_vee_finding_meter_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vee_finding")),
    )
    with op.batch_alter_table("vee_finding", schema=None) as batch_op:
        batch_op.create_index("ix_vee_finding_meter_first", ["meter_id", "first_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vee_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_vee_finding_meter_first")

    op.drop_table("vee_finding")
    with op.batch_alter_table("vee_day", schema=None) as batch_op:
        batch_op.drop_index("ix_vee_day_day")

    op.drop_table("vee_day")
