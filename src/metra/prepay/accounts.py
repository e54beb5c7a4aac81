"""Prepayment accounts: one open account per delivery point, in money or energy (PRE-1).

The distribution operator decides whether a point can use prepayment and tells the market hub
(S1 14.1): `eligibility` answers that from the profile (does the jurisdiction offer it) and the
master data (is a main meter installed, which is what executes a disconnection). An account's
balance is the sum of its ledger (`metra.prepay.ledger`); the account row holds only what the
customer's contract says (unit, tariff, threshold, notice channel) and the supply state the last
executed hub request left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from sqlalchemy import Connection, func, insert, select, update

from metra.profiles.model import Profile
from metra.security import audit
from metra.security.roles import Permission, Principal, require
from metra.store.masterdata import Entity, as_of, find

from . import tariffs
from .errors import AccountNotFound, InvalidAmount, NotEligible
from .schema import prepay_account, prepay_ledger
from .units import MAX_MINOR, check_unit, is_money, scale

CHANNELS = ("outbox", "email", "sms")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class Account:
    """An account as stored (the balance is computed, see `balance`)."""

    id: UUID
    delivery_point_id: UUID
    unit: str
    tariff_code: str | None
    status: str
    starts_on: date
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    low_credit_threshold: int
    notify_channel: str
    notify_address: str | None
    supply: str
    low_warned: bool
    last_balance_notice_at: datetime | None


@dataclass(frozen=True)
class Eligibility:
    """Whether a delivery point may use prepayment on a day, and why not."""

    eligible: bool
    reason: str | None
    meter_id: UUID | None
    account_id: UUID | None


def _account(row: object) -> Account:
    return Account(**row._mapping)  # type: ignore[attr-defined]


def main_meter(conn: Connection, delivery_point_id: UUID, on: date) -> UUID | None:
    """The main meter installed at the delivery point on `on` (None: no meter)."""
    for point_id in find(conn, Entity.METERING_POINT, on, delivery_point_id=delivery_point_id):
        point = as_of(conn, Entity.METERING_POINT, point_id, on)
        if point is not None and point.attributes["role"] == "main":
            meter: UUID | None = point.attributes["meter_id"]
            if meter is not None:
                return meter
    return None


def open_account_of(conn: Connection, delivery_point_id: UUID) -> Account | None:
    """The open account of a delivery point, if any."""
    c = prepay_account.c
    row = conn.execute(
        select(prepay_account).where(c.delivery_point_id == delivery_point_id, c.status == "open")
    ).first()
    return None if row is None else _account(row)


def eligibility(
    conn: Connection, profile: Profile, delivery_point_id: UUID, on: date
) -> Eligibility:
    """What the operator tells the hub about a point (S1 14.1)."""
    account = open_account_of(conn, delivery_point_id)
    account_id = account.id if account else None
    if not profile.prepayment.allowed:
        return Eligibility(False, "the jurisdiction does not offer prepayment", None, account_id)
    if as_of(conn, Entity.DELIVERY_POINT, delivery_point_id, on) is None:
        return Eligibility(False, "no such delivery point on that day", None, account_id)
    meter = main_meter(conn, delivery_point_id, on)
    if meter is None:
        return Eligibility(False, "no main meter installed", None, account_id)
    return Eligibility(True, None, meter, account_id)


def _check_contact(channel: str, address: str | None) -> None:
    if channel not in CHANNELS:
        raise InvalidAmount(f"notice channel must be one of {CHANNELS}")
    if channel == "email" and (address is None or not _EMAIL.match(address)):
        raise InvalidAmount("an e-mail channel needs an address like name@example.org")
    if channel == "sms" and (address is None or not _PHONE.match(address)):
        raise InvalidAmount("an SMS channel needs a number in E.164 form (+48...)")


def open_account(
    conn: Connection,
    actor: Principal,
    profile: Profile,
    delivery_point_id: UUID,
    *,
    unit: str,
    starts_on: date,
    tariff_code: str | None = None,
    low_credit_threshold: int | None = None,
    notify_channel: str = "outbox",
    notify_address: str | None = None,
    source_address: str | None = None,
    now: datetime | None = None,
) -> Account:
    """Open a prepayment account at an eligible delivery point (audited).

    Money accounts are in the profile's currency and name a tariff in it; energy accounts are
    in kWh and need none. The low-credit threshold defaults to the profile's when the account
    is in the profile's balance unit.
    """
    require(actor, Permission.MASTERDATA_EDIT)
    at = now or datetime.now(UTC)
    rules = profile.prepayment
    check_unit(unit)
    found = eligibility(conn, profile, delivery_point_id, starts_on)
    if not found.eligible:
        raise NotEligible(f"delivery point {delivery_point_id}: {found.reason}")
    if found.account_id is not None:
        raise NotEligible(f"delivery point {delivery_point_id} has an open account already")
    if is_money(unit):
        if unit != rules.balance_unit:
            raise InvalidAmount(f"money accounts are in {rules.balance_unit}, not {unit}")
        if tariff_code is None or tariffs.exists(conn, tariff_code) != unit:
            raise InvalidAmount(f"a {unit} account needs a tariff in {unit}")
    elif tariff_code is not None:
        raise InvalidAmount("an energy account is charged in kWh and takes no tariff")
    if low_credit_threshold is None:
        if unit != rules.balance_unit:
            raise InvalidAmount(f"give a low-credit threshold in {unit}")
        low_credit_threshold = round(rules.low_credit_threshold * scale(unit))
    if not 0 <= low_credit_threshold <= MAX_MINOR:
        raise InvalidAmount("the low-credit threshold must be within 0..10^12")
    _check_contact(notify_channel, notify_address)
    account = Account(
        id=uuid4(),
        delivery_point_id=delivery_point_id,
        unit=unit,
        tariff_code=tariff_code,
        status="open",
        starts_on=starts_on,
        opened_at=at,
        opened_by=actor.username,
        closed_at=None,
        low_credit_threshold=low_credit_threshold,
        notify_channel=notify_channel,
        notify_address=notify_address,
        supply="connected",
        low_warned=False,
        last_balance_notice_at=None,
    )
    conn.execute(insert(prepay_account).values(**account.__dict__))
    audit.record(
        conn,
        actor.username,
        "prepay.account.open",
        ("prepay_account", str(account.id)),
        None,
        {
            "delivery_point_id": str(delivery_point_id),
            "unit": unit,
            "tariff": tariff_code,
            "starts_on": starts_on.isoformat(),
            "low_credit_threshold": low_credit_threshold,
            "notify_channel": notify_channel,
        },
        source_address,
        at=at,
    )
    return account


def get(conn: Connection, account_id: UUID) -> Account:
    """An account by id; `AccountNotFound` when there is none."""
    row = conn.execute(select(prepay_account).where(prepay_account.c.id == account_id)).first()
    if row is None:
        raise AccountNotFound(f"no prepayment account {account_id}")
    return _account(row)


def listing(conn: Connection, *, status: str | None = "open") -> list[Account]:
    """Accounts, oldest first (all when `status` is None)."""
    query = select(prepay_account).order_by(prepay_account.c.opened_at, prepay_account.c.id)
    if status is not None:
        query = query.where(prepay_account.c.status == status)
    return [_account(row) for row in conn.execute(query)]


def close_account(
    conn: Connection,
    actor: Principal,
    account_id: UUID,
    *,
    source_address: str | None = None,
    now: datetime | None = None,
) -> Account:
    """Close an account (a move-out); its ledger stays for the final settlement."""
    require(actor, Permission.MASTERDATA_EDIT)
    at = now or datetime.now(UTC)
    account = get(conn, account_id)
    if account.status != "open":
        raise AccountNotFound(f"account {account_id} is {account.status}")
    conn.execute(
        update(prepay_account)
        .where(prepay_account.c.id == account_id)
        .values(status="closed", closed_at=at)
    )
    audit.record(
        conn,
        actor.username,
        "prepay.account.close",
        ("prepay_account", str(account_id)),
        {"status": "open"},
        {"status": "closed", "balance": balance(conn, account_id)},
        source_address,
        at=at,
    )
    return get(conn, account_id)


def balance(conn: Connection, account_id: UUID, *, until: datetime | None = None) -> int:
    """The balance in minor units: the sum of the ledger (up to `until` when given)."""
    query = select(func.coalesce(func.sum(prepay_ledger.c.amount), 0)).where(
        prepay_ledger.c.account_id == account_id
    )
    if until is not None:
        query = query.where(prepay_ledger.c.at <= until)
    return int(conn.execute(query).scalar_one())


def set_state(conn: Connection, account_id: UUID, **values: object) -> None:
    """Update the account's bookkeeping columns (supply, low_warned, last notice)."""
    allowed = {"supply", "low_warned", "last_balance_notice_at"}
    if not set(values) <= allowed:
        raise ValueError(f"only {sorted(allowed)} change in place")
    conn.execute(update(prepay_account).where(prepay_account.c.id == account_id).values(**values))
