"""prepay_ledger.on_meter_at: when the meter confirmed a top-up's credit transfer
(metra.prepay.transfers)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import metra.store.sqltypes

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "prepay_ledger",
        sa.Column("on_meter_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("prepay_ledger") as batch:
        batch.drop_column("on_meter_at")
