"""Prepayment tariffs: named, effective-dated prices per kWh and a daily charge (PRE-1, PRE-5).

A tariff change is a new version valid from a date; earlier days keep the price they had, so a
day charged again after its served data changed is charged at its own day's price. Changing a
tariff needs the parameterisation permission (tariffs are programmed remotely only by those
allowed to, PRE-5) and is in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, insert, select

from metra.security import audit
from metra.security.roles import Permission, Principal, require

from .errors import InvalidAmount, TariffNotFound
from .schema import prepay_tariff
from .units import MAX_MINOR, check_unit, is_money


@dataclass(frozen=True)
class Tariff:
    """One version of a tariff."""

    code: str
    unit: str
    valid_from: date
    price_micro_per_kwh: int
    daily_charge: int


def set_tariff(
    conn: Connection,
    actor: Principal,
    code: str,
    unit: str,
    valid_from: date,
    price_micro_per_kwh: int,
    daily_charge: int = 0,
    *,
    source_address: str | None = None,
    now: datetime | None = None,
) -> Tariff:
    """Record a tariff version valid from `valid_from` (a correction for the same date wins)."""
    require(actor, Permission.METERS_PARAMETERISE)
    if not code or len(code) > 40 or not code.isprintable():
        raise InvalidAmount("a tariff code is 1..40 printable characters")
    if not is_money(check_unit(unit)):
        raise InvalidAmount("a tariff prices energy in a currency; energy accounts need none")
    if not 0 <= price_micro_per_kwh <= MAX_MINOR or not 0 <= daily_charge <= MAX_MINOR:
        raise InvalidAmount("price and daily charge must be within 0..10^12")
    at = now or datetime.now(UTC)
    known = conn.execute(
        select(prepay_tariff.c.unit).where(prepay_tariff.c.code == code).limit(1)
    ).scalar_one_or_none()
    if known is not None and known != unit:
        raise InvalidAmount(f"tariff {code} is in {known}, not {unit}")
    conn.execute(
        insert(prepay_tariff).values(
            code=code,
            unit=unit,
            valid_from=valid_from,
            price_micro_per_kwh=price_micro_per_kwh,
            daily_charge=daily_charge,
            recorded_at=at,
            recorded_by=actor.username,
        )
    )
    tariff = Tariff(code, unit, valid_from, price_micro_per_kwh, daily_charge)
    audit.record(
        conn,
        actor.username,
        "prepay.tariff",
        ("prepay_tariff", code),
        None,
        {
            "unit": unit,
            "valid_from": valid_from.isoformat(),
            "price_micro_per_kwh": price_micro_per_kwh,
            "daily_charge": daily_charge,
        },
        source_address,
        at=at,
    )
    return tariff


def tariff_on(conn: Connection, code: str, day: date) -> Tariff:
    """The version of `code` valid on `day` (the latest correction wins)."""
    t = prepay_tariff.c
    row = conn.execute(
        select(prepay_tariff)
        .where(t.code == code, t.valid_from <= day)
        .order_by(t.valid_from.desc(), t.recorded_at.desc(), t.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise TariffNotFound(f"tariff {code} has no version valid on {day}")
    m = row._mapping
    return Tariff(
        m["code"], m["unit"], m["valid_from"], m["price_micro_per_kwh"], m["daily_charge"]
    )


def exists(conn: Connection, code: str) -> str | None:
    """The unit of tariff `code`, or None when there is no such tariff."""
    return conn.execute(
        select(prepay_tariff.c.unit).where(prepay_tariff.c.code == code).limit(1)
    ).scalar_one_or_none()
