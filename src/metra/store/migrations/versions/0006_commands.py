"""commands: requests, approvals, per-command detail and transitions, firmware images

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 11:42:39.064491
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The tables are declared in metra.store.command_schema on the store's metadata; importing it here
# registers them wherever migrations run, so comparing the migrated database with the metadata
# sees them.
import metra.store.command_schema
import metra.store.sqltypes

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "command_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("meters", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("approvals_required", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_request")),
    )
    with op.batch_alter_table("command_request", schema=None) as batch_op:
        batch_op.create_index("ix_command_request_requested_at", ["requested_at"], unique=False)

    op.create_table(
        "firmware_image",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meter_type", sa.String(length=80), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("identifier", sa.LargeBinary(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("added_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("removed_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_image")),
    )
    with op.batch_alter_table("firmware_image", schema=None) as batch_op:
        batch_op.create_index("ix_firmware_image_type", ["meter_type"], unique=False)

    op.create_table(
        "command_approval",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("approver", sa.String(length=64), nullable=False),
        sa.Column("at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["command_request.id"], name=op.f("fk_command_approval_request_id")
        ),
        sa.PrimaryKeyConstraint("request_id", "approver", name=op.f("pk_command_approval")),
    )
    op.create_table(
        "command_detail",
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["command_id"], ["command.id"], name=op.f("fk_command_detail_command_id")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["command_request.id"], name=op.f("fk_command_detail_request_id")
        ),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_command_detail")),
    )
    with op.batch_alter_table("command_detail", schema=None) as batch_op:
        batch_op.create_index("ix_command_detail_request_id", ["request_id"], unique=False)

    op.create_table(
        "command_transition",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("command_id", sa.Uuid(), nullable=False),
        sa.Column("at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["command_id"], ["command.id"], name=op.f("fk_command_transition_command_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_command_transition")),
    )
    with op.batch_alter_table("command_transition", schema=None) as batch_op:
        batch_op.create_index("ix_command_transition_command_id", ["command_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("command_transition", schema=None) as batch_op:
        batch_op.drop_index("ix_command_transition_command_id")

    op.drop_table("command_transition")
    with op.batch_alter_table("command_detail", schema=None) as batch_op:
        batch_op.drop_index("ix_command_detail_request_id")

    op.drop_table("command_detail")
    op.drop_table("command_approval")
    with op.batch_alter_table("firmware_image", schema=None) as batch_op:
        batch_op.drop_index("ix_firmware_image_type")

    op.drop_table("firmware_image")
    with op.batch_alter_table("command_request", schema=None) as batch_op:
        batch_op.drop_index("ix_command_request_requested_at")

    op.drop_table("command_request")
