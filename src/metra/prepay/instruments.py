"""Payment instruments issued to prepayment customers and the blacklist of withdrawn ones
(PRE-5, S4 5.6.1).

An instrument (a card, a token carrier, a voucher series) is known by its number, of which only
a SHA-256 digest and the last four characters are kept: the blacklist must match a presented
number, not disclose it. Withdrawing an instrument (lost, stolen, forged) puts it on the
blacklist for good; a number reported stolen that was never issued here can be blacklisted too.
A top-up presenting a withdrawn, unknown or another account's instrument is refused with
`InstrumentRefused`, and the refusal is audited and raised as a security event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, insert, select, update

from metra.security import audit, incidents
from metra.security.roles import Permission, Principal, require
from metra.store.events import SecurityCategory, Severity

from .errors import InstrumentRefused, InvalidAmount
from .schema import prepay_instrument

KINDS = ("card", "token", "voucher")


@dataclass(frozen=True)
class Instrument:
    """An instrument as stored (no number, only its digest and last four characters)."""

    number_sha256: bytes
    last4: str
    kind: str
    account_id: UUID | None
    status: str
    issued_at: datetime | None
    issued_by: str | None
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None


def digest(number: str) -> bytes:
    """The stored key of an instrument number (spaces and dashes do not count)."""
    cleaned = number.replace(" ", "").replace("-", "")
    if not 4 <= len(cleaned) <= 64 or not cleaned.isalnum() or not cleaned.isascii():
        raise InvalidAmount("an instrument number is 4..64 letters or digits")
    return hashlib.sha256(cleaned.upper().encode()).digest()


def _last4(number: str) -> str:
    return number.replace(" ", "").replace("-", "")[-4:].upper()


def find(conn: Connection, number: str) -> Instrument | None:
    """The instrument with this number, if known."""
    row = conn.execute(
        select(prepay_instrument).where(prepay_instrument.c.number_sha256 == digest(number))
    ).first()
    return None if row is None else Instrument(**row._mapping)


def issue(
    conn: Connection,
    actor: Principal,
    account_id: UUID,
    number: str,
    *,
    kind: str = "card",
    source_address: str | None = None,
    now: datetime | None = None,
) -> Instrument:
    """Issue an instrument to an account; a blacklisted number is never issued again."""
    require(actor, Permission.MASTERDATA_EDIT)
    if kind not in KINDS:
        raise InvalidAmount(f"instrument kind must be one of {KINDS}")
    at = now or datetime.now(UTC)
    known = find(conn, number)
    if known is not None:
        why = "withdrawn" if known.status == "withdrawn" else "other_account"
        raise InstrumentRefused(why, f"instrument *{known.last4} is {known.status} already")
    conn.execute(
        insert(prepay_instrument).values(
            number_sha256=digest(number),
            last4=_last4(number),
            kind=kind,
            account_id=account_id,
            status="issued",
            issued_at=at,
            issued_by=actor.username,
        )
    )
    audit.record(
        conn,
        actor.username,
        "prepay.instrument.issue",
        ("prepay_account", str(account_id)),
        None,
        {"instrument": f"*{_last4(number)}", "kind": kind},
        source_address,
        at=at,
    )
    found = find(conn, number)
    assert found is not None
    return found


def withdraw(
    conn: Connection,
    actor: Principal,
    number: str,
    *,
    reason: str,
    source_address: str | None = None,
    now: datetime | None = None,
) -> Instrument:
    """Put an instrument on the blacklist (issued here or not); needs a reason, audited."""
    require(actor, Permission.MASTERDATA_EDIT)
    if not reason.strip():
        raise InvalidAmount("withdrawing an instrument needs a reason")
    at = now or datetime.now(UTC)
    known = find(conn, number)
    values = {
        "status": "withdrawn",
        "withdrawn_at": at,
        "withdrawn_by": actor.username,
        "withdraw_reason": reason,
    }
    if known is None:
        conn.execute(
            insert(prepay_instrument).values(
                number_sha256=digest(number), last4=_last4(number), kind="card", **values
            )
        )
    elif known.status != "withdrawn":
        conn.execute(
            update(prepay_instrument)
            .where(prepay_instrument.c.number_sha256 == digest(number))
            .values(**values)
        )
    audit.record(
        conn,
        actor.username,
        "prepay.instrument.withdraw",
        ("prepay_account", str(known.account_id) if known and known.account_id else "-"),
        {"status": known.status if known else None},
        {"instrument": f"*{_last4(number)}", "status": "withdrawn"},
        source_address,
        reason=reason,
        at=at,
    )
    found = find(conn, number)
    assert found is not None
    return found


def blacklist(conn: Connection) -> list[Instrument]:
    """Every withdrawn instrument, newest first."""
    c = prepay_instrument.c
    rows = conn.execute(
        select(prepay_instrument).where(c.status == "withdrawn").order_by(c.withdrawn_at.desc())
    )
    return [Instrument(**row._mapping) for row in rows]


def check(
    conn: Connection,
    actor: str,
    account_id: UUID,
    number: str,
    *,
    source_address: str | None,
    now: datetime,
) -> Instrument:
    """The instrument if it may pay into `account_id`; else audit, raise a security event and
    raise `InstrumentRefused` (commit the transaction anyway)."""
    known = find(conn, number)
    if known is None:
        rule, message = "unknown", "the instrument was never issued"
    elif known.status == "withdrawn":
        rule, message = "withdrawn", "the instrument is on the blacklist"
    elif known.account_id != account_id:
        rule, message = "other_account", "the instrument belongs to another account"
    else:
        return known
    shown = f"*{_last4(number)}"
    audit.record(
        conn,
        actor,
        "prepay.topup.refused",
        ("prepay_account", str(account_id)),
        None,
        {"instrument": shown, "rule": rule},
        source_address,
        at=now,
    )
    incidents.report(
        conn,
        SecurityCategory.ATTEMPTED_COMPROMISE if rule == "withdrawn" else SecurityCategory.OTHER,
        Severity.WARNING,
        f"prepayment top-up refused ({rule}): instrument {shown}",
        actor=actor,
        source_address=source_address,
        details={"account_id": str(account_id), "rule": rule},
        now=now,
    )
    raise InstrumentRefused(rule, f"instrument {shown}: {message}")
