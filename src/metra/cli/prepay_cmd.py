"""``metra prepay``: accounts, tariffs, payment instruments, top-ups, balances, charging and
customer notices (PRE-1..PRE-5).

Every sub-command acts as a named user who logs in first (``--as``; the password and, where the
profile asks, a TOTP code come from a hidden prompt or standard input, never from arguments), so
each change is attributed in the audit trail; what a user may do follows from the roles (opening
accounts and recording payments: an administrator; tariffs: parameterisation). Amounts are
decimal text in the account's unit (``50.00`` PLN, ``12.500`` kWh). Output is one JSON object
per line.

``topup`` commits the payment, then sends it to the point's main meter as a ``credit_transfer``
where the meter runs its own credit (not UA: ``transfer.sent`` false with the reason).
``notify`` is the daily run after VEE: it marks top-ups the meter confirmed, charges served
consumption (``--through``), follows
the market hub's requests to their end (disconnection / reconnection notices), composes the
low-credit warnings and balance notices due, and delivers them: e-mail through ``--smtp-host``
(password from ``METRA_SMTP_PASSWORD``), SMS through ``--sms-url`` (token from
``METRA_SMS_TOKEN``), everything else into the local outbox.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import typer
from sqlalchemy import Connection

from metra.prepay import accounts, hub, instruments, ledger, notices, tariffs, transfers, units
from metra.prepay.errors import PrepayError
from metra.prepay.notifiers import Notifier, SmsGatewayNotifier, SmtpNotifier
from metra.security.errors import SecurityLayerError
from metra.security.roles import Permission, require
from metra.security.safeguards import CommandPolicy
from metra.store import make_engine
from metra.store.errors import StoreError

from .common import DB, PROFILE, fail, print_json, profile_or_fail
from .session import ACTOR, log_in, read_secret

app = typer.Typer(help="Prepayment: accounts, tariffs, instruments, top-ups, balances, notices.")
account_app = typer.Typer(help="Prepayment accounts per delivery point.")
tariff_app = typer.Typer(help="Prepayment tariffs.")
instrument_app = typer.Typer(help="Payment instruments and their blacklist.")
app.add_typer(account_app, name="account")
app.add_typer(tariff_app, name="tariff")
app.add_typer(instrument_app, name="instrument")

SOURCE = "127.0.0.1"


def _uuid(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        fail(f"{what} {text!r} is not a UUID")


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{what} {text!r} is not a date (YYYY-MM-DD)")


def _account_json(conn: Connection, account: accounts.Account) -> dict[str, Any]:
    balance = accounts.balance(conn, account.id)
    return {
        "id": str(account.id),
        "delivery_point": str(account.delivery_point_id),
        "unit": account.unit,
        "tariff": account.tariff_code,
        "status": account.status,
        "starts_on": account.starts_on,
        "balance": units.show(balance, account.unit),
        "low_credit_threshold": units.show(account.low_credit_threshold, account.unit),
        "low_credit": balance < account.low_credit_threshold,
        "notify": account.notify_channel,
        "supply": account.supply,
        "charged_through": ledger.charged_through(conn, account),
    }


class _Session:
    """One log-in and one transaction around an action; typed errors become one-line failures.
    A refusal that was audited (a blacklisted instrument) is committed before failing."""

    def __init__(self, db: str, profile: str, actor: str) -> None:
        self.profile = profile_or_fail(profile)
        self.engine = make_engine(db)
        self.conn = self.engine.connect()
        self.actor = log_in(self.conn, actor, self.profile, SOURCE)

    def __enter__(self) -> _Session:
        self.conn.begin()
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None or getattr(exc, "rule", None) in (
                "withdrawn",
                "unknown",
                "other_account",
            ):
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
            self.engine.dispose()
        if isinstance(exc, (PrepayError, SecurityLayerError, StoreError)):
            fail(str(exc))


@account_app.command("open")
def account_open(
    point: str = typer.Option(..., "--point", help="Delivery point id."),
    unit: str = typer.Option(..., "--unit", help="The profile's currency, or kWh."),
    starts_on: str = typer.Option(..., "--from", help="First day charged (YYYY-MM-DD, UTC)."),
    tariff: str | None = typer.Option(None, "--tariff", help="Tariff code (money accounts)."),
    threshold: str | None = typer.Option(None, "--threshold", help="Low-credit threshold."),
    channel: str = typer.Option("outbox", "--notify", help="outbox, email or sms."),
    address: str | None = typer.Option(None, "--address", help="E-mail or +E.164 number."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Open an account at an eligible delivery point (PRE-1)."""
    with _Session(db, profile, actor) as s:
        account = accounts.open_account(
            s.conn,
            s.actor,
            s.profile,
            _uuid(point, "--point"),
            unit=unit,
            starts_on=_day(starts_on, "--from"),
            tariff_code=tariff,
            low_credit_threshold=None if threshold is None else units.parse(threshold, unit),
            notify_channel=channel,
            notify_address=address,
            source_address=SOURCE,
        )
        print_json(_account_json(s.conn, account))


@account_app.command("show")
def account_show(
    account_id: str = typer.Argument(..., help="Account id."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """An account with its balance and its newest ledger lines."""
    with _Session(db, profile, actor) as s:
        require(s.actor, Permission.READINGS_READ)
        account = accounts.get(s.conn, _uuid(account_id, "account"))
        shown = _account_json(s.conn, account)
        shown["ledger"] = ledger.entries(s.conn, account.id, limit=20)
        print_json(shown)


@account_app.command("list")
def account_list(db: str = DB, profile: str = PROFILE, actor: str = ACTOR) -> None:
    """Open accounts, one per line."""
    with _Session(db, profile, actor) as s:
        require(s.actor, Permission.READINGS_READ)
        for account in accounts.listing(s.conn):
            print_json(_account_json(s.conn, account))


@tariff_app.command("set")
def tariff_set(
    code: str = typer.Argument(..., help="Tariff code."),
    unit: str = typer.Option(..., "--unit", help="Currency (ISO 4217)."),
    valid_from: str = typer.Option(..., "--from", help="Valid from (YYYY-MM-DD)."),
    price: str = typer.Option(..., "--price", help="Price per kWh, e.g. 0.8123."),
    daily: str = typer.Option("0", "--daily", help="Daily charge, e.g. 0.50."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Record a tariff version (PRE-5: parameterisation right needed)."""
    with _Session(db, profile, actor) as s:
        found = tariffs.set_tariff(
            s.conn,
            s.actor,
            code,
            unit,
            _day(valid_from, "--from"),
            units.parse_price(price),
            units.parse(daily, unit),
            source_address=SOURCE,
        )
        print_json({**found.__dict__})


@instrument_app.command("issue")
def instrument_issue(
    account_id: str = typer.Argument(..., help="Account id."),
    kind: str = typer.Option("card", "--kind", help="card, token or voucher."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Issue an instrument; its number is read from standard input (never an argument)."""
    with _Session(db, profile, actor) as s:
        number = read_secret("instrument number")
        found = instruments.issue(
            s.conn, s.actor, _uuid(account_id, "account"), number, kind=kind, source_address=SOURCE
        )
        print_json({"instrument": f"*{found.last4}", "kind": found.kind, "status": found.status})


@instrument_app.command("withdraw")
def instrument_withdraw(
    reason: str = typer.Option(..., "--reason", help="Why (lost, stolen, forged)."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Put an instrument on the blacklist; its number is read from standard input."""
    with _Session(db, profile, actor) as s:
        number = read_secret("instrument number")
        found = instruments.withdraw(s.conn, s.actor, number, reason=reason, source_address=SOURCE)
        print_json({"instrument": f"*{found.last4}", "status": found.status})


@app.command("topup")
def topup_command(
    account_id: str = typer.Argument(..., help="Account id."),
    amount: str = typer.Option(..., "--amount", help="Decimal amount in the account's unit."),
    ref: str = typer.Option(..., "--ref", help="The payment's reference (idempotence)."),
    with_instrument: bool = typer.Option(
        False, "--instrument", help="Read the paying instrument's number from standard input."
    ),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Record a payment (a blacklisted instrument is refused and audited, PRE-5), then send it to
    the meter's own credit where the profile runs it (PRE-1); ``transfer`` says which."""
    with _Session(db, profile, actor) as s:
        account = accounts.get(s.conn, _uuid(account_id, "account"))
        number = read_secret("instrument number") if with_instrument else None
        paid = ledger.top_up(
            s.conn,
            s.actor,
            account.id,
            units.parse(amount, account.unit),
            payment_ref=ref,
            instrument=number,
            source_address=SOURCE,
        )
        s.conn.commit()  # the payment stands whatever happens to its transfer
        sent = transfers.after_topup(
            s.conn, s.actor, s.profile, CommandPolicy(), account.id, ref, source_address=SOURCE
        )
        print_json(
            {
                "account": str(account.id),
                "amount": units.show(paid.amount, account.unit),
                "balance": units.show(paid.balance, account.unit),
                "recorded": paid.created,
                "transfer": sent.shown(),
            }
        )


@app.command("balance")
def balance_command(
    account_id: str | None = typer.Argument(None, help="Account id."),
    point: str | None = typer.Option(None, "--point", help="Or the delivery point id."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """The balance of an account (by id or delivery point)."""
    with _Session(db, profile, actor) as s:
        require(s.actor, Permission.READINGS_READ)
        if account_id is not None:
            account = accounts.get(s.conn, _uuid(account_id, "account"))
        elif point is not None:
            held = accounts.open_account_of(s.conn, _uuid(point, "--point"))
            if held is None:
                fail("no open prepayment account at that delivery point")
            account = held
        else:
            fail("name an account or --point")
        print_json(_account_json(s.conn, account))


def _notifiers(
    smtp_host: str | None, smtp_port: int, sender: str, sms_url: str | None
) -> dict[str, Notifier]:
    found: dict[str, Notifier] = {}
    if smtp_host:
        user = os.environ.get("METRA_SMTP_USER")
        found["email"] = SmtpNotifier(
            smtp_host,
            smtp_port,
            sender,
            starttls=smtp_port != 25,
            username=user,
            password=os.environ.get("METRA_SMTP_PASSWORD") if user else None,
        )
    if sms_url:
        token = os.environ.get("METRA_SMS_TOKEN")
        if not token:
            fail("--sms-url needs METRA_SMS_TOKEN")
        try:
            found["sms"] = SmsGatewayNotifier(sms_url, token, sender)
        except ValueError as exc:
            fail(str(exc))
    return found


@app.command("notify")
def notify_command(
    through: str | None = typer.Option(
        None, "--through", help="Charge served consumption through this day first (UTC)."
    ),
    smtp_host: str | None = typer.Option(None, "--smtp-host", help="SMTP relay for e-mail."),
    smtp_port: int = typer.Option(25, "--smtp-port", help="SMTP port (not 25: STARTTLS)."),
    sender: str = typer.Option("prepay@localhost", "--sender", help="From address / SMS id."),
    sms_url: str | None = typer.Option(None, "--sms-url", help="HTTP SMS gateway URL."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """The daily run: charge, follow hub requests, compose and deliver notices (PRE-3, PRE-4)."""
    chosen = _notifiers(smtp_host, smtp_port, sender, sms_url)
    with _Session(db, profile, actor) as s:
        require(s.actor, Permission.DATA_EDIT)
        now = datetime.now(UTC)
        if through is not None:
            day = _day(through, "--through")
            for done in ledger.charge_all(s.conn, day, actor=s.actor.username, now=now):
                print_json(
                    {
                        "account": str(done.account_id),
                        "charged_days": done.days,
                        "pending_days": done.pending,
                    }
                )
        for marked in transfers.settle(s.conn, actor=s.actor.username, now=now):
            print_json(
                {
                    "account": str(marked.account_id),
                    "payment_ref": marked.payment_ref,
                    "transfer": str(marked.transfer_id),
                    "on_meter": True,
                }
            )
        made = notices.on_settled(s.conn, s.profile, hub.settle(s.conn, now=now), now=now)
        made += notices.run(s.conn, s.profile, now=now)
        for notice in notices.deliver(s.conn, chosen, now=now):
            if notice.id in made:
                print_json(
                    {
                        "notice": notice.id,
                        "account": str(notice.account_id),
                        "kind": notice.kind,
                        "channel": notice.channel,
                        "status": notice.status,
                        "subject": notice.subject,
                    }
                )
