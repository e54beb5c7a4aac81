"""The prepayment ledger: top-ups in, validated consumption out (PRE-1).

**Top-ups** are payment records: an amount, the payment's reference (unique per account, so a
payment system that retries its notification never credits twice) and optionally the payment
instrument presented, which must be issued to the account and not withdrawn
(`metra.prepay.instruments.check`).

**Consumption** is charged from the MDM's served data (`metra.mdm.versions`): the latest
validated/estimated version of each UTC day of the account's main meter, at the tariff valid
that day (money) or as Wh (energy). A day is charged once per served version: when VEE later
serves a new version (real data replacing an estimate, a manual correction), `charge` posts the
difference, so the ledger always sums to the cost of what is served now. Days without a served
version, or whose served version still has gaps, are not charged yet and are reported pending.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import numpy as np
from sqlalchemy import Connection, func, insert, select

from metra.mdm import versions
from metra.security import audit
from metra.security.roles import Permission, Principal, require

from . import accounts, instruments, tariffs
from .errors import AccountNotFound, InvalidAmount
from .schema import prepay_ledger
from .units import MAX_MINOR, cost, is_money, show

#: The channel charged: active energy import per period (A+), as the collector stores it.
CHANNEL = "1-0:1.29.0.255"
#: Longest span one `charge` call walks (a forgotten account is charged in steps, not at once).
MAX_DAYS = 400


@dataclass(frozen=True)
class TopUp:
    """A recorded payment and the balance after it."""

    account_id: UUID
    amount: int
    payment_ref: str
    balance: int
    created: bool


@dataclass
class ChargeResult:
    """What one `charge` did for one account."""

    account_id: UUID
    charged: int = 0  # minor units posted (positive: taken from the balance)
    days: list[date] = field(default_factory=list)  # days charged or corrected
    pending: list[date] = field(default_factory=list)  # no served data (or gaps) yet
    charged_through: date | None = None  # last day of the unbroken run of charged days


def top_up(
    conn: Connection,
    actor: Principal,
    account_id: UUID,
    amount: int,
    *,
    payment_ref: str,
    instrument: str | None = None,
    source_address: str | None = None,
    now: datetime | None = None,
) -> TopUp:
    """Record a payment into an open account (audited); idempotent by `payment_ref`.

    A refused instrument raises `InstrumentRefused` after auditing it: commit anyway.
    """
    require(actor, Permission.DATA_EDIT)
    at = now or datetime.now(UTC)
    if not 0 < amount <= MAX_MINOR:
        raise InvalidAmount("a top-up is a positive amount up to 10^12 minor units")
    if not payment_ref or len(payment_ref) > 64 or not payment_ref.isprintable():
        raise InvalidAmount("a payment reference is 1..64 printable characters")
    account = accounts.get(conn, account_id)
    if account.status != "open":
        raise AccountNotFound(f"account {account_id} is {account.status}")
    c = prepay_ledger.c
    known = conn.execute(
        select(c.amount).where(c.account_id == account_id, c.payment_ref == payment_ref)
    ).scalar_one_or_none()
    if known is not None:
        if known != amount:
            raise InvalidAmount(f"payment {payment_ref} was recorded with another amount")
        return TopUp(account_id, amount, payment_ref, accounts.balance(conn, account_id), False)
    digest = None
    if instrument is not None:
        held = instruments.check(
            conn, actor.username, account_id, instrument, source_address=source_address, now=at
        )
        digest = held.number_sha256
    before = accounts.balance(conn, account_id)
    conn.execute(
        insert(prepay_ledger).values(
            account_id=account_id,
            at=at,
            kind="topup",
            amount=amount,
            payment_ref=payment_ref,
            instrument_sha256=digest,
            actor=actor.username,
        )
    )
    after = before + amount
    audit.record(
        conn,
        actor.username,
        "prepay.topup",
        ("prepay_account", str(account_id)),
        {"balance": before},
        {"balance": after, "amount": amount, "payment_ref": payment_ref},
        source_address,
        at=at,
    )
    return TopUp(account_id, amount, payment_ref, after, True)


def _charged(conn: Connection, account_id: UUID) -> dict[date, tuple[int, int]]:
    """Per charged day: (what was charged in total, the newest version charged)."""
    c = prepay_ledger.c
    rows = conn.execute(
        select(c.day, func.sum(c.amount), func.max(c.vee_version))
        .where(c.account_id == account_id, c.kind == "consumption")
        .group_by(c.day)
    )
    return {day: (-int(total), int(version)) for day, total, version in rows}


def charge(
    conn: Connection,
    account_id: UUID,
    through: date,
    *,
    actor: str = "prepay",
    energy_unit_kwh: float = 0.001,
    now: datetime | None = None,
) -> ChargeResult:
    """Charge the account's served consumption from its first day through `through` (UTC days).

    `energy_unit_kwh` is what one stored unit of the channel is (0.001: the collector's Wh).
    """
    at = now or datetime.now(UTC)
    account = accounts.get(conn, account_id)
    result = ChargeResult(account_id)
    first = account.starts_on
    if through < first:
        return result
    first = max(first, through - timedelta(days=MAX_DAYS - 1))
    days = [first + timedelta(days=i) for i in range((through - first).days + 1)]
    by_meter: defaultdict[UUID, list[date]] = defaultdict(list)
    for day in days:
        meter = accounts.main_meter(conn, account.delivery_point_id, day)
        if meter is None:
            result.pending.append(day)
        else:
            by_meter[meter].append(day)
    served: dict[date, versions.VeeDay] = {}
    for meter, meter_days in by_meter.items():
        for (_, day), found in versions.latest(conn, [meter], CHANNEL, meter_days).items():
            served[day] = found
    done = _charged(conn, account_id)
    rows = []
    for day in days:
        vee = served.get(day)
        if vee is None or bool(np.isnan(vee.values).any()):
            if day not in result.pending:
                result.pending.append(day)
            continue
        total, version = done.get(day, (0, 0))
        if version == vee.version:
            continue
        energy_wh = float(np.sum(vee.values)) * energy_unit_kwh * 1000.0
        if is_money(account.unit):
            assert account.tariff_code is not None
            tariff = tariffs.tariff_on(conn, account.tariff_code, day)
            due = cost(energy_wh, tariff.price_micro_per_kwh) + tariff.daily_charge
        else:
            due = round(energy_wh)
        rows.append(
            {
                "account_id": account_id,
                "at": at,
                "kind": "consumption",
                "amount": -(due - total),
                "day": day,
                "vee_version": vee.version,
                "energy_wh": energy_wh,
                "actor": actor,
            }
        )
        result.charged += due - total
        result.days.append(day)
    if rows:
        conn.execute(insert(prepay_ledger), rows)
        audit.record(
            conn,
            actor,
            "prepay.charge",
            ("prepay_account", str(account_id)),
            None,
            {
                "days": [d.isoformat() for d in result.days],
                "charged": show(result.charged, account.unit),
                "through": through.isoformat(),
            },
            None,
            at=at,
        )
    result.pending.sort()
    result.charged_through = charged_through(conn, account)
    return result


def charged_through(conn: Connection, account: accounts.Account) -> date | None:
    """The last day of the unbroken run of charged days from the account's first day."""
    days = set(_charged(conn, account.id))
    through = None
    day = account.starts_on
    while day in days:
        through = day
        day += timedelta(days=1)
    return through


def charge_all(
    conn: Connection,
    through: date,
    *,
    actor: str = "prepay",
    energy_unit_kwh: float = 0.001,
    now: datetime | None = None,
) -> list[ChargeResult]:
    """`charge` every open account (the daily run after VEE)."""
    return [
        charge(conn, a.id, through, actor=actor, energy_unit_kwh=energy_unit_kwh, now=now)
        for a in accounts.listing(conn)
    ]


def entries(conn: Connection, account_id: UUID, *, limit: int = 100) -> list[dict[str, object]]:
    """The newest ledger lines of an account (digests of instruments left out)."""
    c = prepay_ledger.c
    query = (
        select(c.id, c.at, c.kind, c.amount, c.day, c.vee_version, c.energy_wh, c.payment_ref)
        .where(c.account_id == account_id)
        .order_by(c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
