"""security: user accounts, password history, role grants, log-in attempts, tokens, incidents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 11:06:01.461749
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The tables are declared in metra.security.schema on the store's metadata; importing it here
# registers them wherever migrations run, so comparing the migrated database with the metadata
# sees the same tables (env.py imports only metra.store.schema).
import metra.security.schema
import metra.store.sqltypes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("opened_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("security_event_ids", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_table(
        "login_attempt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_attempt_source_address_at", ["source_address", "at"], unique=False
        )
        batch_op.create_index("ix_login_attempt_username_at", ["username", "at"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column(
            "password_changed_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("disabled_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["party_id"], ["party.id"], name=op.f("fk_user_account_party_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    op.create_table(
        "access_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=True),
        sa.Column("created_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_access_token_user_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_access_token_token_hash")),
    )
    op.create_table(
        "password_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("set_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_password_history_user_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    with op.batch_alter_table("password_history", schema=None) as batch_op:
        batch_op.create_index("ix_password_history_user_id", ["user_id"], unique=False)

    op.create_table(
        "role_grant",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("granted_by", sa.Uuid(), nullable=True),
        sa.Column("granted_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", metra.store.sqltypes.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["granted_by"], ["user_account.id"], name=op.f("fk_role_grant_granted_by")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by"], ["user_account.id"], name=op.f("fk_role_grant_revoked_by")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_role_grant_user_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grant")),
    )
    with op.batch_alter_table("role_grant", schema=None) as batch_op:
        batch_op.create_index("ix_role_grant_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("role_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_role_grant_user_id")

    op.drop_table("role_grant")
    with op.batch_alter_table("password_history", schema=None) as batch_op:
        batch_op.drop_index("ix_password_history_user_id")

    op.drop_table("password_history")
    op.drop_table("access_token")
    op.drop_table("user_account")
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempt_username_at")
        batch_op.drop_index("ix_login_attempt_source_address_at")

    op.drop_table("login_attempt")
    op.drop_table("incident")
