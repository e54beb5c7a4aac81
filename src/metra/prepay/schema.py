"""Prepayment tables (PRE-1..PRE-5, migration 0007), declared on the store's metadata.

Why a ledger and not a balance column: every change of a balance is a fact with its own cause (a
payment, a day of validated consumption, a correction when a day's served data change), and the
balance is their sum. Nothing is updated in place, so a balance on any past moment can be
explained line by line and a re-run never charges twice (one consumption line per account, day
and served VEE version).

- `prepay_tariff`: named tariffs with effective-dated versions (price per kWh, daily charge).
- `prepay_account`: one account per delivery point, in money (an ISO 4217 currency) or energy
  (kWh), with its tariff, low-credit threshold, the customer's notice channel and the supply
  state the market hub's last executed request left.
- `prepay_instrument`: issued payment instruments (cards, tokens) and the blacklist of withdrawn
  ones (S4 5.6.1); only a SHA-256 digest of the number is kept, with its last four characters.
- `prepay_ledger`: top-ups, consumption charges and their corrections, in minor units (money:
  1/100 of the currency; energy: Wh).
- `prepay_notice`: every notice to a customer (low credit, daily balance, disconnection,
  reconnection) with its channel and delivery state; rows held in channel `outbox` are the
  local outbox.
- `prepay_hub_message`: market-hub messages, idempotent by the hub's message id, with the
  command request they became and what became of it.
- `prepay_reconciliation`: each comparison of an account with the meter's own balance.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from metra.store.schema import SerialKey, metadata
from metra.store.sqltypes import UtcDateTime

prepay_tariff = Table(
    "prepay_tariff",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("code", String(40), nullable=False),
    Column("unit", String(8), nullable=False),  # currency of the price, or kWh
    Column("valid_from", Date, nullable=False),
    Column("price_micro_per_kwh", BigInteger, nullable=False),  # 1e-6 currency units per kWh
    Column("daily_charge", BigInteger, nullable=False),  # minor units per day
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Index("ix_prepay_tariff_code", "code", "valid_from"),
)

prepay_account = Table(
    "prepay_account",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("delivery_point_id", Uuid, ForeignKey("delivery_point.id"), nullable=False),
    Column("unit", String(8), nullable=False),  # ISO 4217 code or kWh
    Column("tariff_code", String(40)),  # None for energy accounts
    Column("status", String(16), nullable=False),  # open / closed
    Column("starts_on", Date, nullable=False),  # first UTC day charged
    Column("opened_at", UtcDateTime, nullable=False),
    Column("opened_by", String(64), nullable=False),
    Column("closed_at", UtcDateTime),
    Column("low_credit_threshold", BigInteger, nullable=False),  # minor units
    Column("notify_channel", String(16), nullable=False),  # outbox / email / sms
    Column("notify_address", String(254)),
    Column("supply", String(16), nullable=False),  # connected / disconnected
    Column("low_warned", Boolean, nullable=False),
    Column("last_balance_notice_at", UtcDateTime),
    Index("ix_prepay_account_delivery_point_id", "delivery_point_id"),
)

prepay_instrument = Table(
    "prepay_instrument",
    metadata,
    Column("number_sha256", LargeBinary(32), primary_key=True),
    Column("last4", String(4), nullable=False),
    Column("kind", String(16), nullable=False),  # card / token / voucher
    Column("account_id", Uuid, ForeignKey("prepay_account.id")),
    Column("status", String(16), nullable=False),  # issued / withdrawn
    Column("issued_at", UtcDateTime),
    Column("issued_by", String(64)),
    Column("withdrawn_at", UtcDateTime),
    Column("withdrawn_by", String(64)),
    Column("withdraw_reason", Text),
)

prepay_ledger = Table(
    "prepay_ledger",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("account_id", Uuid, ForeignKey("prepay_account.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # topup / consumption
    Column("amount", BigInteger, nullable=False),  # signed, minor units
    Column("day", Date),  # consumption: the UTC day charged
    Column("vee_version", Integer),  # consumption: the served version charged
    Column("energy_wh", Double),  # consumption: the day's energy of that version
    Column("payment_ref", String(64)),  # top-up: the payment's reference (idempotence)
    Column("instrument_sha256", LargeBinary(32)),
    Column("actor", String(64), nullable=False),
    Column("on_meter_at", UtcDateTime),  # top-up: when the meter confirmed its credit transfer
    UniqueConstraint("account_id", "payment_ref"),
    Index("ix_prepay_ledger_account_id", "account_id", "day"),
)

prepay_notice = Table(
    "prepay_notice",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("account_id", Uuid, ForeignKey("prepay_account.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # low_credit / balance / disconnected / reconnected
    Column("channel", String(16), nullable=False),
    Column("address", String(254)),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # pending / sent / failed / outbox
    Column("attempts", Integer, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("error", Text),
    Index("ix_prepay_notice_account_id", "account_id", "created_at"),
    Index("ix_prepay_notice_status", "status"),
)

prepay_hub_message = Table(
    "prepay_hub_message",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # connect / disconnect / by_balance
    Column("delivery_point_id", Uuid, nullable=False),
    Column("retailer_id", Uuid),
    Column("account_id", Uuid, ForeignKey("prepay_account.id"), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("source_address", String(64)),
    Column("action", String(16), nullable=False),  # connect / disconnect / none
    Column("balance", BigInteger, nullable=False),
    Column("request_id", Uuid),
    Column("outcome", String(16)),  # confirmed / failed / expired / cancelled, once known
    Column("settled_at", UtcDateTime),
    Column("details", JSON),
    Index("ix_prepay_hub_message_outcome", "outcome"),
)

prepay_reconciliation = Table(
    "prepay_reconciliation",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("account_id", Uuid, ForeignKey("prepay_account.id"), nullable=False),
    Column("meter_id", Uuid, nullable=False),
    Column("read_at", UtcDateTime, nullable=False),
    Column("charged_through", Date),
    Column("ledger_balance", BigInteger, nullable=False),
    Column("meter_balance", BigInteger),
    Column("difference", BigInteger),
    Column("within_tolerance", Boolean, nullable=False),
    Column("note", Text),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_prepay_reconciliation_account_id", "account_id", "read_at"),
)
