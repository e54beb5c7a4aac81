"""Where each meter listens: host, port, transport and DLMS addresses, versioned with audit.

The head-end reads its targets from here, so an import or a change of SIM / APN keeps the
address with the meter instead of in the caller's memory. A change adds a version and retires
the previous one (never an update in place), so "where was this meter reachable on that day"
stays answerable, and every change is in the audit trail (STO-5). The table is declared on the
store's metadata here, next to its repository; migration 0008 creates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    Row,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    func,
    insert,
    select,
    update,
)

from metra.store import audit
from metra.store.errors import InvalidData
from metra.store.schema import SerialKey, metadata
from metra.store.sqltypes import UtcDateTime

TRANSPORTS = ("wrapper", "hdlc")

meter_address = Table(
    "meter_address",
    metadata,
    Column("id", SerialKey, primary_key=True, autoincrement=True),
    Column("meter_id", Uuid, ForeignKey("meter.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("transport", String(16), nullable=False),  # wrapper / hdlc (IEC 62056-47 / -46)
    Column("tls", Boolean, nullable=False),
    Column("server_address", Integer, nullable=False),  # logical device
    Column("physical_address", Integer, nullable=False),  # HDLC lower address
    Column("client_address", SmallInteger),  # reading client SAP; null: the head-end's own
    Column("cell", String(64), nullable=False),  # substation or radio cell (concurrency bound)
    Column("valid_from", UtcDateTime, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("retired_at", UtcDateTime),
    UniqueConstraint("meter_id", "version"),
    Index("ix_meter_address_current", "meter_id", "retired_at"),
)


@dataclass(frozen=True)
class CommAddress:
    """How to reach one meter."""

    host: str
    port: int
    transport: str = "wrapper"
    tls: bool = False
    server_address: int = 1
    physical_address: int = 0
    client_address: int | None = None
    cell: str = ""

    def __post_init__(self) -> None:
        if not self.host:
            raise InvalidData("an address needs a host")
        if not 0 < self.port < 65536:
            raise InvalidData(f"port {self.port} is not a TCP port")
        if self.transport not in TRANSPORTS:
            raise InvalidData(f"transport {self.transport!r} is not one of {TRANSPORTS}")
        if not 0 <= self.server_address <= 0x3FFF or not 0 <= self.physical_address <= 0x3FFF:
            raise InvalidData("server and physical addresses are 0..16383")
        if self.client_address is not None and not 0 <= self.client_address <= 0x7F:
            raise InvalidData(f"client address {self.client_address} is not a SAP (0..127)")


@dataclass(frozen=True)
class StoredAddress:
    """One recorded version of a meter's address."""

    meter_id: UUID
    version: int
    address: CommAddress
    valid_from: datetime
    recorded_by: str
    retired_at: datetime | None


_FIELDS = tuple(CommAddress.__dataclass_fields__)


def _stored(row: Row[Any]) -> StoredAddress:
    m = row._mapping
    return StoredAddress(
        meter_id=m["meter_id"],
        version=m["version"],
        address=CommAddress(**{name: m[name] for name in _FIELDS}),
        valid_from=m["valid_from"],
        recorded_by=m["recorded_by"],
        retired_at=m["retired_at"],
    )


def current(conn: Connection, meter_id: UUID) -> StoredAddress | None:
    """The address in use, or None for a meter never given one."""
    return current_many(conn, [meter_id]).get(meter_id)


def current_many(
    conn: Connection, meter_ids: Iterable[UUID] | None = None
) -> dict[UUID, StoredAddress]:
    """The addresses in use of the given meters (default: every meter that has one)."""
    t = meter_address
    out: dict[UUID, StoredAddress] = {}
    if meter_ids is None:
        for row in conn.execute(select(t).where(t.c.retired_at.is_(None))):
            stored = _stored(row)
            out[stored.meter_id] = stored
        return out
    wanted = sorted(set(meter_ids))
    for i in range(0, len(wanted), 500):
        query = select(t).where(t.c.meter_id.in_(wanted[i : i + 500]), t.c.retired_at.is_(None))
        for row in conn.execute(query):
            stored = _stored(row)
            out[stored.meter_id] = stored
    return out


def put(conn: Connection, meter_id: UUID, address: CommAddress, *, at: datetime, by: str) -> int:
    """Record `address` as the meter's from `at`; returns the version in use afterwards.

    The same address again changes nothing (an import run twice adds no versions); a different
    one retires the current version and is audited (`meter.address`, old and new endpoint).
    """
    now = current(conn, meter_id)
    if now is not None and now.address == address:
        return now.version
    t = meter_address
    newest = conn.execute(select(func.max(t.c.version)).where(t.c.meter_id == meter_id))
    version = (newest.scalar_one() or 0) + 1
    if now is not None:
        conn.execute(
            update(t)
            .where(t.c.meter_id == meter_id, t.c.retired_at.is_(None))
            .values(retired_at=at)
        )
    values = {name: getattr(address, name) for name in _FIELDS}
    conn.execute(
        insert(t).values(
            meter_id=meter_id, version=version, valid_from=at, recorded_by=by, **values
        )
    )
    audit.append(
        conn,
        at=at,
        actor=by,
        action="meter.address",
        target_kind="meter",
        target_id=str(meter_id),
        details={
            "version": version,
            "from": None if now is None else f"{now.address.host}:{now.address.port}",
            "to": f"{address.host}:{address.port}",
            "transport": address.transport,
            "cell": address.cell,
        },
    )
    return version


def history(conn: Connection, meter_id: UUID) -> list[StoredAddress]:
    """Every address the meter had, oldest first."""
    t = meter_address
    query = select(t).where(t.c.meter_id == meter_id).order_by(t.c.version)
    return [_stored(row) for row in conn.execute(query)]


def as_of(conn: Connection, meter_id: UUID, at: datetime) -> StoredAddress | None:
    """The address the meter had at `at` (None before its first)."""
    t = meter_address
    query = (
        select(t)
        .where(t.c.meter_id == meter_id, t.c.valid_from <= at)
        .order_by(t.c.version.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else _stored(row)
