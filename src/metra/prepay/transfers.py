"""Top-ups sent to the meter's own credit (PRE-1): each committed top-up becomes one
``credit_transfer`` command, and the top-up is marked as on the meter once the meter confirmed.

The transfer id the meter remembers is the command request's id, derived from the account and the
payment reference, so sending the same top-up again (a retried form, a crash between commit and
send) returns the stored request and the meter's credit rises once. The command engine carries
it like any other order: the sender's permission (``data:edit``, the one that records the
top-up), the deadline, retries, the signed token and the read-back (docs/commands.md). A top-up
to an account whose supply is disconnected goes at high priority: the customer is without power
until the credit is on the meter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from sqlalchemy import Connection, select, update

from metra.profiles.model import Profile
from metra.security import audit, command_requests
from metra.security.command_requests import CREDIT_TRANSFER, Submission
from metra.security.errors import SecurityLayerError
from metra.security.roles import Principal
from metra.security.safeguards import CommandPolicy
from metra.store import commands
from metra.store.commands import Status

from . import accounts
from .errors import AccountNotFound, InvalidAmount
from .schema import prepay_ledger

_NAMESPACE = uuid5(NAMESPACE_URL, "metra:prepay:transfer")


@dataclass(frozen=True)
class OnMeter:
    """A top-up whose credit transfer the meter confirmed (marked by `settle`)."""

    account_id: UUID
    payment_ref: str
    transfer_id: UUID
    amount: int
    at: datetime


@dataclass(frozen=True)
class Outcome:
    """What a face reports after a committed top-up: the transfer's request and command with
    its state, or why nothing was sent (``sent`` false and ``reason``)."""

    sent: bool
    reason: str | None = None
    request_id: UUID | None = None
    command_id: UUID | None = None
    state: str | None = None

    def shown(self) -> dict[str, str | bool | None]:
        """The outcome as the faces print it (JSON-ready)."""
        return {
            "sent": self.sent,
            "reason": self.reason,
            "request": None if self.request_id is None else str(self.request_id),
            "command": None if self.command_id is None else str(self.command_id),
            "state": self.state,
        }


def meter_runs_credit(profile: Profile) -> bool:
    """Whether the meters of this profile run their own credit, so a top-up must reach them.

    The meter's credit function disconnects locally at zero at any hour of the day; where the
    profile forbids disconnection in hours of the day (UA: 17:00-09:00) metra keeps it off and
    decides centrally, so there is nothing on the meter to top up."""
    rules = profile.prepayment
    return rules.allowed and not rules.no_disconnect_windows


def after_topup(
    conn: Connection,
    actor: Principal,
    profile: Profile,
    policy: CommandPolicy,
    account_id: UUID,
    payment_ref: str,
    *,
    source_address: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """What every face does once the top-up is committed: `send` it where the meter runs its
    own credit, else nothing; a top-up that cannot be sent (no main meter, a safeguard) stays
    recorded and the reason is returned, since the payment itself is not undone."""
    if not meter_runs_credit(profile):
        return Outcome(False, f"{profile.code}: the meter's credit function is kept off")
    try:
        sent = send(
            conn,
            actor,
            profile,
            policy,
            account_id,
            payment_ref,
            source_address=source_address,
            now=now,
        )
    except (AccountNotFound, InvalidAmount, SecurityLayerError) as exc:
        return Outcome(False, str(exc))
    found = commands.of_request(conn, sent.request_id)
    state = found[0].status if found else sent.status
    return Outcome(True, None, sent.request_id, sent.command_ids[0], state)


def transfer_id(account_id: UUID, payment_ref: str) -> UUID:
    """The credit transfer's id (= its command request's id) for one top-up: stable, so a
    resubmission names the same transfer."""
    return uuid5(_NAMESPACE, f"{account_id}/{payment_ref}")


def send(
    conn: Connection,
    actor: Principal,
    profile: Profile,
    policy: CommandPolicy,
    account_id: UUID,
    payment_ref: str,
    *,
    source_address: str | None = None,
    now: datetime | None = None,
) -> Submission:
    """Submit the committed top-up `payment_ref` as a ``credit_transfer`` to the main meter of
    the account's delivery point; idempotent (the same top-up returns the stored request)."""
    at = now or datetime.now(UTC)
    c = prepay_ledger.c
    amount = conn.execute(
        select(c.amount).where(
            c.account_id == account_id, c.payment_ref == payment_ref, c.kind == "topup"
        )
    ).scalar_one_or_none()
    if amount is None:
        raise InvalidAmount(f"no top-up {payment_ref} in account {account_id}")
    account = accounts.get(conn, account_id)
    meter = accounts.main_meter(conn, account.delivery_point_id, at.date())
    if meter is None:
        raise AccountNotFound(f"account {account_id} has no main meter installed")
    rid = transfer_id(account_id, payment_ref)
    sent = command_requests.submit(
        conn,
        actor,
        profile,
        policy,
        CREDIT_TRANSFER,
        [meter],
        source_address=source_address,
        params={"amount": int(amount), "restores_supply": account.supply == "disconnected"},
        request_id=rid,
        reason=f"prepayment top-up {payment_ref}",
        now=at,
    )
    if sent.created:
        audit.record(
            conn,
            actor.username,
            "prepay.topup.sent",
            ("prepay_account", str(account_id)),
            None,
            {"payment_ref": payment_ref, "transfer_id": str(rid), "amount": int(amount)},
            source_address,
            at=at,
        )
    return sent


def settle(
    conn: Connection, *, actor: str = "prepay", now: datetime | None = None
) -> list[OnMeter]:
    """Mark every top-up whose credit transfer the meter confirmed as on the meter (once);
    returns those marked now."""
    at = now or datetime.now(UTC)
    c = prepay_ledger.c
    waiting = conn.execute(
        select(c.id, c.account_id, c.payment_ref, c.amount).where(
            c.kind == "topup", c.on_meter_at.is_(None)
        )
    ).all()
    marked = []
    for row in waiting:
        rid = transfer_id(row.account_id, row.payment_ref)
        if commands.find_request(conn, rid) is None:
            continue
        done = [x for x in commands.of_request(conn, rid) if x.status == Status.CONFIRMED.value]
        if not done:
            continue
        conn.execute(update(prepay_ledger).where(c.id == row.id).values(on_meter_at=at))
        audit.record(
            conn,
            actor,
            "prepay.topup.on_meter",
            ("prepay_account", str(row.account_id)),
            None,
            {"payment_ref": row.payment_ref, "transfer_id": str(rid), "result": done[0].result},
            None,
            at=at,
        )
        marked.append(OnMeter(row.account_id, row.payment_ref, rid, int(row.amount), at))
    return marked
