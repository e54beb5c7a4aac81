"""meter_address: where each meter listens, versioned (head-end targets from the store)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 12:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The table is declared in metra.store.addresses on the store's metadata; importing it here
# registers it wherever migrations run, so comparing the migrated database with the metadata
# sees it.
import metra.store.addresses
import metra.store.sqltypes

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meter_address",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("tls", sa.Boolean(), nullable=False),
        sa.Column("server_address", sa.Integer(), nullable=False),
        sa.Column("physical_address", sa.Integer(), nullable=False),
        sa.Column("client_address", sa.SmallInteger(), nullable=True),
        sa.Column("cell", sa.String(length=64), nullable=False),
        sa.Column("valid_from", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("retired_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_meter_address_meter_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_address")),
        sa.UniqueConstraint("meter_id", "version", name=op.f("uq_meter_address_meter_id_version")),
    )
    with op.batch_alter_table("meter_address", schema=None) as batch_op:
        batch_op.create_index("ix_meter_address_current", ["meter_id", "retired_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meter_address", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_address_current")
    op.drop_table("meter_address")
