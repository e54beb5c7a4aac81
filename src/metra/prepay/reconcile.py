"""Keep the central balance consistent with the meter's own (PRE-1): read each prepaid meter's
credit object and report where the two differ.

The meter decrements its credit from its own register in real time; the central ledger from the
MDM's served data, a UTC day at a time. They agree at a day boundary once that day is charged,
so a reconciliation is meaningful when read at midnight UTC right after the day's charge; a
reading taken later includes the meter's unbilled use of the running day, which the report names
in its note. A difference beyond the tolerance (rounding: one minor unit per charged day is
typical) points at a tariff that differs from the meter's, a top-up not transferred to the
meter, consumption the MDM never saw, or a meter that runs no credit at all.

The meter's credit object is read through any `Reader` (the head-end's on-demand read, which is
audited as ``read.on_demand``); each comparison is stored (`prepay_reconciliation`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from sqlalchemy import Connection, insert

from metra.dlms.data import Data
from metra.dlms.obis import Obis
from metra.security import audit

from . import accounts, ledger
from .schema import prepay_reconciliation

#: The Credit object (class 112) of the meter's prepayment function.
CREDIT_CLASS = 112
CREDIT = Obis(0, 0, 19, 10, 0, 255)
#: current_credit_amount, and whether the meter runs its prepayment function.
BALANCE_ATTR, ENABLED_ATTR = 2, 10

Reader = Callable[[UUID, int, Obis, int], Awaitable[Data]]


@dataclass(frozen=True)
class MeterBalance:
    """What a meter said about its credit (or why it could not be read)."""

    meter_id: UUID
    read_at: datetime
    balance: int | None
    enabled: bool
    error: str | None = None


@dataclass(frozen=True)
class Reconciliation:
    """One account compared with its meter."""

    account_id: UUID
    meter_id: UUID
    read_at: datetime
    charged_through: date | None
    ledger_balance: int
    meter_balance: int | None
    difference: int | None
    within_tolerance: bool
    note: str | None


async def read_balances(
    read: Reader, meter_ids: Sequence[UUID], now: Callable[[], datetime]
) -> list[MeterBalance]:
    """Read the credit object of each meter; a failure is recorded, not raised."""
    found = []
    for meter_id in meter_ids:
        at = now()
        try:
            enabled = await read(meter_id, CREDIT_CLASS, CREDIT, ENABLED_ATTR)
            value = await read(meter_id, CREDIT_CLASS, CREDIT, BALANCE_ATTR)
        except Exception as exc:  # the meter's or the network's failure is a finding
            found.append(MeterBalance(meter_id, at, None, False, f"{type(exc).__name__}: {exc}"))
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            found.append(MeterBalance(meter_id, at, None, False, "credit is not an integer"))
            continue
        found.append(MeterBalance(meter_id, at, int(value), enabled is True))
    return found


def reconcile(
    conn: Connection,
    readings: Sequence[MeterBalance],
    *,
    tolerance: int,
    actor: str = "prepay",
    now: datetime | None = None,
) -> list[Reconciliation]:
    """Compare each reading with the open account of the meter's delivery point; store and
    return the comparisons (readings of meters without a prepaid account are skipped)."""
    at = now or datetime.now(UTC)
    by_meter: dict[UUID, accounts.Account] = {}
    for held in accounts.listing(conn):
        meter = accounts.main_meter(conn, held.delivery_point_id, at.date())
        if meter is not None:
            by_meter[meter] = held
    report = []
    for reading in readings:
        account = by_meter.get(reading.meter_id)
        if account is None:
            continue
        through = ledger.charged_through(conn, account)
        ours = accounts.balance(conn, account.id)
        difference = None if reading.balance is None else reading.balance - ours
        note = reading.error
        if reading.error is None and not reading.enabled:
            note = "the meter does not run its prepayment function"
            difference = None
        elif reading.error is None:
            boundary = (
                datetime.combine(through + timedelta(days=1), time(), UTC) if through else None
            )
            if boundary is None or reading.read_at - boundary >= timedelta(minutes=15):
                note = (
                    f"consumption charged through {through}; the meter's reading at "
                    f"{reading.read_at.isoformat()} includes use not charged yet"
                )
        ok = difference is not None and abs(difference) <= tolerance
        row = Reconciliation(
            account.id,
            reading.meter_id,
            reading.read_at,
            through,
            ours,
            reading.balance,
            difference,
            ok,
            note,
        )
        conn.execute(insert(prepay_reconciliation).values(**row.__dict__, recorded_at=at))
        report.append(row)
    audit.record(
        conn,
        actor,
        "prepay.reconcile",
        ("prepay", "reconciliation"),
        None,
        {
            "accounts": len(report),
            "differences": sum(1 for r in report if not r.within_tolerance),
            "tolerance": tolerance,
        },
        None,
        at=at,
    )
    return report
