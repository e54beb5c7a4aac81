"""The security layer's tables, declared on the store's metadata so one migration history holds
the whole schema (revision 0002 creates them).

Why separate tables rather than columns on master data: accounts, grants and tokens are the
central system's own access control (SEC-4, SEC-5), not metering facts, and their rows change
(a grant is revoked, a token expires) where master data only grows. Grants are still never
deleted, only marked revoked, so who could do what on a past date stays answerable (STO-5).
Secrets are never stored in clear: passwords as Argon2id hashes, tokens as SHA-256 digests, TOTP
secrets sealed with AES-GCM under a master key that lives outside the database.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    Uuid,
)

from metra.store.schema import SerialKey, metadata
from metra.store.sqltypes import UtcDateTime

user_account = Table(
    "user_account",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # person / machine
    Column("party_id", Uuid, ForeignKey("party.id")),  # whose points a retailer / consumer sees
    Column("password_hash", String(200)),
    Column("password_changed_at", UtcDateTime),
    Column("must_change_password", Boolean, nullable=False),
    Column("totp_secret", LargeBinary),  # AES-GCM sealed, never clear
    Column("totp_last_step", BigInteger),  # the newest time step used: replays are refused
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("disabled_at", UtcDateTime),
)

password_history = Table(
    "password_history",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("user_id", Uuid, ForeignKey("user_account.id"), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
    Index("ix_password_history_user_id", "user_id"),
)

role_grant = Table(
    "role_grant",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("user_id", Uuid, ForeignKey("user_account.id"), nullable=False),
    Column("role", String(32), nullable=False),
    Column("granted_by", Uuid, ForeignKey("user_account.id")),  # None: the bootstrap
    Column("granted_at", UtcDateTime, nullable=False),
    Column("revoked_by", Uuid, ForeignKey("user_account.id")),
    Column("revoked_at", UtcDateTime),
    Index("ix_role_grant_user_id", "user_id"),
)

login_attempt = Table(
    "login_attempt",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("username", String(64), nullable=False),
    Column("source_address", String(64)),
    Column("succeeded", Boolean, nullable=False),
    Column("reason", String(32)),
    Index("ix_login_attempt_username_at", "username", "at"),
    Index("ix_login_attempt_source_address_at", "source_address", "at"),
)

access_token = Table(
    "access_token",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("user_id", Uuid, ForeignKey("user_account.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # session / api / machine
    Column("name", String(64)),
    Column("scopes", JSON),  # None: the holder's permissions; a list narrows them
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

incident = Table(
    "incident",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("opened_by", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("security_event_ids", JSON),
    Column("status", String(16), nullable=False),  # open / closed
    Column("closed_at", UtcDateTime),
    Column("closed_by", String(64)),
    Column("resolution", Text),
)
