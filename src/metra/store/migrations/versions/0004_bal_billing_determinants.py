"""bal: billing determinants (BAL-2), balancing meters and loss attributes in master data (BAL-1)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 11:42:44.011087
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The determinant table is declared in metra.mdm.billing.schema on the store's metadata; importing
# it here registers it wherever migrations run (as 0003 does for the VEE tables).
import metra.mdm.billing.schema
import metra.store.sqltypes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_determinant",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("tariff", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("determinants", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("computed_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("computed_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meter.id"], name=op.f("fk_billing_determinant_meter_id")
        ),
        sa.PrimaryKeyConstraint(
            "meter_id", "month", "tariff", "version", name=op.f("pk_billing_determinant")
        ),
    )
    with op.batch_alter_table("billing_determinant", schema=None) as batch_op:
        batch_op.create_index("ix_billing_determinant_month", ["month"], unique=False)

    with op.batch_alter_table("feeder_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("balancing_meter_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_feeder_version_balancing_meter_id"),
            "meter",
            ["balancing_meter_id"],
            ["id"],
        )

    with op.batch_alter_table("metering_point_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meter_position", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("loss_transformer_kva", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("loss_no_load_kw", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("loss_load_kw", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("loss_line_ohm_per_km", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("loss_line_km", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("loss_line_kv", sa.Double(), nullable=True))

    with op.batch_alter_table("substation_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("balancing_meter_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_substation_version_balancing_meter_id"),
            "meter",
            ["balancing_meter_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("substation_version", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_substation_version_balancing_meter_id"), type_="foreignkey"
        )
        batch_op.drop_column("balancing_meter_id")

    with op.batch_alter_table("metering_point_version", schema=None) as batch_op:
        batch_op.drop_column("loss_line_kv")
        batch_op.drop_column("loss_line_km")
        batch_op.drop_column("loss_line_ohm_per_km")
        batch_op.drop_column("loss_load_kw")
        batch_op.drop_column("loss_no_load_kw")
        batch_op.drop_column("loss_transformer_kva")
        batch_op.drop_column("meter_position")

    with op.batch_alter_table("feeder_version", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_feeder_version_balancing_meter_id"), type_="foreignkey"
        )
        batch_op.drop_column("balancing_meter_id")

    with op.batch_alter_table("billing_determinant", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_determinant_month")

    op.drop_table("billing_determinant")
