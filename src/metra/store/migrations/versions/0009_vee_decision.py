"""vee_decision: worklist decisions on VEE findings kept under the finding's stable key (meter,
channel, rule, interval range), so they survive a re-run of the validation (DQ-4, DQ-11)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The table is declared in metra.mdm.vee_decisions on the store's metadata; importing it here
# registers it wherever migrations run, so comparing the migrated database with the metadata
# sees it.
import metra.mdm.vee_decisions
import metra.store.sqltypes

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vee_decision",
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("first_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"], name=op.f("fk_vee_decision_meter_id")),
        sa.PrimaryKeyConstraint(
            "meter_id", "channel", "rule", "first_at", "last_at", name=op.f("pk_vee_decision")
        ),
    )


def downgrade() -> None:
    op.drop_table("vee_decision")
