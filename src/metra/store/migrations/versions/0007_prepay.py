"""prepay: tariffs, accounts, payment instruments and blacklist, ledger, notices, hub messages,
reconciliations (PRE-1..PRE-5)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The tables are declared in metra.prepay.schema on the store's metadata; importing it here
# registers them wherever migrations run (as 0005 does for the KPI table).
import metra.prepay.schema
import metra.store.sqltypes

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prepay_tariff",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("price_micro_per_kwh", sa.BigInteger(), nullable=False),
        sa.Column("daily_charge", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepay_tariff")),
    )
    with op.batch_alter_table("prepay_tariff", schema=None) as batch_op:
        batch_op.create_index("ix_prepay_tariff_code", ["code", "valid_from"], unique=False)

    op.create_table(
        "prepay_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_point_id", sa.Uuid(), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("tariff_code", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("opened_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("closed_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("low_credit_threshold", sa.BigInteger(), nullable=False),
        sa.Column("notify_channel", sa.String(length=16), nullable=False),
        sa.Column("notify_address", sa.String(length=254), nullable=True),
        sa.Column("supply", sa.String(length=16), nullable=False),
        sa.Column("low_warned", sa.Boolean(), nullable=False),
        sa.Column(
            "last_balance_notice_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["delivery_point_id"],
            ["delivery_point.id"],
            name=op.f("fk_prepay_account_delivery_point_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepay_account")),
    )
    with op.batch_alter_table("prepay_account", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prepay_account_delivery_point_id", ["delivery_point_id"], unique=False
        )

    op.create_table(
        "prepay_hub_message",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delivery_point_id", sa.Uuid(), nullable=False),
        sa.Column("retailer_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("settled_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["prepay_account.id"], name=op.f("fk_prepay_hub_message_account_id")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_prepay_hub_message")),
    )
    with op.batch_alter_table("prepay_hub_message", schema=None) as batch_op:
        batch_op.create_index("ix_prepay_hub_message_outcome", ["outcome"], unique=False)

    op.create_table(
        "prepay_instrument",
        sa.Column("number_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("issued_by", sa.String(length=64), nullable=True),
        sa.Column("withdrawn_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["prepay_account.id"], name=op.f("fk_prepay_instrument_account_id")
        ),
        sa.PrimaryKeyConstraint("number_sha256", name=op.f("pk_prepay_instrument")),
    )
    op.create_table(
        "prepay_ledger",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("vee_version", sa.Integer(), nullable=True),
        sa.Column("energy_wh", sa.Double(), nullable=True),
        sa.Column("payment_ref", sa.String(length=64), nullable=True),
        sa.Column("instrument_sha256", sa.LargeBinary(length=32), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["prepay_account.id"], name=op.f("fk_prepay_ledger_account_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepay_ledger")),
        sa.UniqueConstraint(
            "account_id", "payment_ref", name=op.f("uq_prepay_ledger_account_id_payment_ref")
        ),
    )
    with op.batch_alter_table("prepay_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_prepay_ledger_account_id", ["account_id", "day"], unique=False)

    op.create_table(
        "prepay_notice",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["prepay_account.id"], name=op.f("fk_prepay_notice_account_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepay_notice")),
    )
    with op.batch_alter_table("prepay_notice", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prepay_notice_account_id", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_prepay_notice_status", ["status"], unique=False)

    op.create_table(
        "prepay_reconciliation",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("charged_through", sa.Date(), nullable=True),
        sa.Column("ledger_balance", sa.BigInteger(), nullable=False),
        sa.Column("meter_balance", sa.BigInteger(), nullable=True),
        sa.Column("difference", sa.BigInteger(), nullable=True),
        sa.Column("within_tolerance", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["prepay_account.id"], name=op.f("fk_prepay_reconciliation_account_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepay_reconciliation")),
    )
    with op.batch_alter_table("prepay_reconciliation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prepay_reconciliation_account_id", ["account_id", "read_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("prepay_reconciliation", schema=None) as batch_op:
        batch_op.drop_index("ix_prepay_reconciliation_account_id")

    op.drop_table("prepay_reconciliation")
    with op.batch_alter_table("prepay_notice", schema=None) as batch_op:
        batch_op.drop_index("ix_prepay_notice_status")
        batch_op.drop_index("ix_prepay_notice_account_id")

    op.drop_table("prepay_notice")
    with op.batch_alter_table("prepay_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_prepay_ledger_account_id")

    op.drop_table("prepay_ledger")
    op.drop_table("prepay_instrument")
    with op.batch_alter_table("prepay_hub_message", schema=None) as batch_op:
        batch_op.drop_index("ix_prepay_hub_message_outcome")

    op.drop_table("prepay_hub_message")
    with op.batch_alter_table("prepay_account", schema=None) as batch_op:
        batch_op.drop_index("ix_prepay_account_delivery_point_id")

    op.drop_table("prepay_account")
    with op.batch_alter_table("prepay_tariff", schema=None) as batch_op:
        batch_op.drop_index("ix_prepay_tariff_code")

    op.drop_table("prepay_tariff")
