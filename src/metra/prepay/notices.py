"""Notices to prepayment customers (PRE-3, PRE-4): the daily balance, the low-credit warning,
and the disconnection and reconnection notices.

- **Daily balance** (PRE-3, S1 14.6): at least every `prepayment.balance_notice_every_hours`
  (PL, UA: 24) each open account gets its balance.
- **Low credit** (PRE-4, S4 3.6.4): once when the balance falls below the account's threshold;
  armed again when the balance is back at or above it.
- **Disconnected / reconnected**: when a hub request is confirmed by the meter
  (`hub.settle`). Reconnection after a top-up may happen without the customer present (PRE-3,
  S1 14.5); when the meter's control mode only arms the relay, the notice asks the customer to
  press the meter's button.

`run` composes notices (rows in `prepay_notice`); `deliver` hands pending ones to the
notifier of their channel, or holds them in the local outbox when none is configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from metra.profiles.model import Profile
from metra.store.masterdata import Entity, as_of

from . import accounts
from .errors import NotifyFailed
from .hub import Settled
from .notifiers import Notifier
from .schema import prepay_notice
from .units import show

#: Attempts before a notice is given up as failed (it stays in the table either way).
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Notice:
    """A notice as stored."""

    id: int
    account_id: UUID
    kind: str
    channel: str
    address: str | None
    subject: str
    body: str
    balance: int
    created_at: datetime
    status: str
    attempts: int
    sent_at: datetime | None
    error: str | None


def _where(conn: Connection, account: accounts.Account, on: datetime) -> str:
    point = as_of(conn, Entity.DELIVERY_POINT, account.delivery_point_id, on.date())
    address = point.attributes.get("address") if point else None
    return str(address or account.delivery_point_id)


def compose(
    conn: Connection,
    profile: Profile,
    account: accounts.Account,
    kind: str,
    *,
    now: datetime,
    detail: str | None = None,
) -> int:
    """Store one notice for the account's channel; returns its id."""
    balance = accounts.balance(conn, account.id)
    shown = show(balance, account.unit)
    local = now.astimezone(ZoneInfo(profile.timezone)).strftime("%Y-%m-%d %H:%M")
    place = _where(conn, account, now)
    texts = {
        "balance": (f"Prepayment balance {shown}", f"Your balance at {place} is {shown}."),
        "low_credit": (
            f"Low credit: {shown}",
            f"Your balance at {place} is {shown}, below "
            f"{show(account.low_credit_threshold, account.unit)}. Please top up.",
        ),
        "disconnected": (
            "Supply disconnected",
            f"The supply at {place} was disconnected at {local} (balance {shown}). "
            "It is reconnected after a top-up.",
        ),
        "reconnected": (
            "Supply reconnected",
            f"The supply at {place} was reconnected at {local} (balance {shown}).",
        ),
    }
    subject, body = texts[kind]
    if detail:
        body = f"{body} {detail}"
    outbox = account.notify_channel == "outbox"
    result = conn.execute(
        insert(prepay_notice).values(
            account_id=account.id,
            kind=kind,
            channel=account.notify_channel,
            address=account.notify_address,
            subject=subject,
            body=f"{body}\n({local} {profile.timezone})",
            balance=balance,
            created_at=now,
            status="outbox" if outbox else "pending",
            attempts=0,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def run(conn: Connection, profile: Profile, *, now: datetime | None = None) -> list[int]:
    """Compose the low-credit warnings and daily balance notices due now; returns their ids."""
    at = now or datetime.now(UTC)
    every = timedelta(hours=profile.prepayment.balance_notice_every_hours)
    made = []
    for account in accounts.listing(conn):
        balance = accounts.balance(conn, account.id)
        below = balance < account.low_credit_threshold
        if below and not account.low_warned:
            made.append(compose(conn, profile, account, "low_credit", now=at))
            accounts.set_state(conn, account.id, low_warned=True)
        elif not below and account.low_warned:
            accounts.set_state(conn, account.id, low_warned=False)
        last = account.last_balance_notice_at
        if last is None or at - last >= every:
            made.append(compose(conn, profile, account, "balance", now=at))
            accounts.set_state(conn, account.id, last_balance_notice_at=at)
    return made


def on_settled(
    conn: Connection, profile: Profile, settled: Sequence[Settled], *, now: datetime | None = None
) -> list[int]:
    """Disconnection and reconnection notices for hub requests the meter confirmed."""
    at = now or datetime.now(UTC)
    made = []
    for done in settled:
        if done.outcome != "confirmed" or done.action not in ("connect", "disconnect"):
            continue
        account = accounts.get(conn, done.account_id)
        detail = None
        if done.action == "connect" and (done.result or {}).get("state") != "connected":
            detail = "Press the button on your meter to restore the supply."
        kind = "reconnected" if done.action == "connect" else "disconnected"
        made.append(compose(conn, profile, account, kind, now=at, detail=detail))
    return made


def _notice(row: Any) -> Notice:
    return Notice(**row._mapping)


def deliver(
    conn: Connection, notifiers: Mapping[str, Notifier], *, now: datetime | None = None
) -> list[Notice]:
    """Hand every pending notice to its channel's notifier; without one it goes to the outbox.
    A failure is counted and retried on the next call, up to `MAX_ATTEMPTS`."""
    at = now or datetime.now(UTC)
    c = prepay_notice.c
    pending = conn.execute(select(prepay_notice).where(c.status == "pending").order_by(c.id))
    for notice in [_notice(row) for row in pending]:
        notifier = notifiers.get(notice.channel)
        values: dict[str, Any]
        if notifier is None or notice.address is None:
            values = {"status": "outbox", "error": f"no {notice.channel} notifier configured"}
        else:
            try:
                notifier.send(notice.address, notice.subject, notice.body)
                values = {"status": "sent", "sent_at": at, "attempts": notice.attempts + 1}
            except NotifyFailed as exc:
                tries = notice.attempts + 1
                values = {
                    "status": "failed" if tries >= MAX_ATTEMPTS else "pending",
                    "attempts": tries,
                    "error": str(exc),
                }
        conn.execute(update(prepay_notice).where(c.id == notice.id).values(**values))
    return listing(conn, since=at - timedelta(days=1))


def listing(
    conn: Connection,
    *,
    account_id: UUID | None = None,
    status: str | None = None,
    since: datetime | None = None,
) -> list[Notice]:
    """Stored notices, oldest first."""
    c = prepay_notice.c
    query = select(prepay_notice).order_by(c.id)
    if account_id is not None:
        query = query.where(c.account_id == account_id)
    if status is not None:
        query = query.where(c.status == status)
    if since is not None:
        query = query.where(c.created_at >= since)
    return [_notice(row) for row in conn.execute(query)]


def outbox(conn: Connection, account_id: UUID | None = None) -> list[Notice]:
    """The local outbox: notices held for pickup (the default channel, and the fallback)."""
    return listing(conn, account_id=account_id, status="outbox")
