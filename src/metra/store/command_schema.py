"""Tables of the command engine beside the store's `command` table (migration 0004).

Why beside and not inside `command`: a command row is one meter's order; who asked for it, who
approved it and every step it took are facts about the request and its history, which only grow.
Keeping them in their own tables leaves the queue row small (the head-end scans it every tick)
and lets the trail of a command be read back in order for KPI-3 and for an audit (STO-5).

- `command_request`: one submission (one kind, one or many meters) with its requester, source
  (operator or market hub, CMD-3), source address, reason, emergency flag and how many second
  approvals it needs (SEC-4, SEC-6).
- `command_approval`: one approval of a request by a person other than its requester.
- `command_detail`: per command its request (whose `source` tells KPI-3 the hub's commands) and
  delivery attempts. KPI-3 takes its substation groups from master data
  (`metra.mdm.kpi.commands`), not from here.
- `command_transition`: every state change of a command, with time, actor and details.
- `firmware_image`: vendor images kept per meter type (the last three versions, CMD-7).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
)

from metra.store.schema import SerialKey, metadata
from metra.store.sqltypes import UtcDateTime

command_request = Table(
    "command_request",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("params", JSON),
    Column("meters", Integer, nullable=False),
    Column("source", String(16), nullable=False),  # operator / hub
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("source_address", String(64)),
    Column("reason", Text),
    Column("emergency", Boolean, nullable=False),
    Column("approvals_required", SmallInteger, nullable=False),
    Column("status", String(24), nullable=False),  # awaiting_approval / approved / cancelled
    Index("ix_command_request_requested_at", "requested_at"),
)

command_approval = Table(
    "command_approval",
    metadata,
    Column("request_id", Uuid, ForeignKey("command_request.id"), primary_key=True),
    Column("approver", String(64), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("source_address", String(64)),
)

command_detail = Table(
    "command_detail",
    metadata,
    Column("command_id", Uuid, ForeignKey("command.id"), primary_key=True),
    Column("request_id", Uuid, ForeignKey("command_request.id"), nullable=False),
    Column("attempts", Integer, nullable=False),
    Index("ix_command_detail_request_id", "request_id"),
)

command_transition = Table(
    "command_transition",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("command_id", Uuid, ForeignKey("command.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("details", JSON),
    Index("ix_command_transition_command_id", "command_id"),
)

firmware_image = Table(
    "firmware_image",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("meter_type", String(80), nullable=False),
    Column("version", String(64), nullable=False),
    Column("identifier", LargeBinary, nullable=False),
    Column("image", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("added_by", String(64), nullable=False),
    Column("removed_at", UtcDateTime),
    Index("ix_firmware_image_type", "meter_type"),
)
