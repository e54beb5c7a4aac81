"""command_detail.group_key dropped: nothing writes it since KPI-3 takes its substation groups
from master data (metra.mdm.kpi.commands), so the column only misled readers of the schema

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite cannot drop a column in place; the batch copies the table without it.
    with op.batch_alter_table("command_detail") as batch:
        batch.drop_column("group_key")


def downgrade() -> None:
    with op.batch_alter_table("command_detail") as batch:
        batch.add_column(sa.Column("group_key", sa.String(length=64), nullable=True))
