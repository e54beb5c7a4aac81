"""Prepayment accounts (PRE-1, PRE-3, PRE-5): the list with balances, one account's ledger,
payment instruments (only their last four characters: the store keeps no more) and the notices
sent to the customer, and the top-up form.

Balances and ledgers describe customers' consumption, so the pages need `readings:read` at
scope all; a top-up needs `data:edit` as `metra.prepay.ledger.top_up` itself requires, and is
audited there (``prepay.topup``). Once committed, the payment is sent to the meter's own
credit as a ``credit_transfer`` where the profile runs it (`metra.prepay.transfers.after_topup`;
not UA, and the form says so); the ledger shows each top-up's command state and id. A payment
with a withdrawn, unknown or another account's instrument is refused by the ledger after it
audited the attempt and raised a security event, so the transaction is committed and the page
says why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection, select
from starlette.datastructures import FormData

from metra.api.auth import source_address
from metra.api.permissions import Grant
from metra.console.access import PREFIX, Need, Viewer, console, posted, signed_in
from metra.console.i18n import N_
from metra.console.pages.common import FormError, redirect, render, router, text, uuid_or_404
from metra.prepay import accounts, instruments, ledger, notices, transfers, units
from metra.prepay.errors import AccountNotFound, InstrumentRefused, InvalidAmount
from metra.prepay.schema import prepay_instrument
from metra.security.roles import Permission
from metra.store import commands
from metra.store.errors import NotFound
from metra.store.masterdata import Entity, as_of

P = Permission
pages = router()
TOPUP_REFUSED = {
    "withdrawn": N_(
        "The payment was refused: the instrument is on the blacklist. "
        "The attempt has been recorded as a security event."
    ),
    "unknown": N_("The payment was refused: the instrument was never issued."),
    "other_account": N_("The payment was refused: the instrument belongs to another account."),
}
BAD_AMOUNT = N_("The payment was refused: the amount or the payment reference is not valid.")
CLOSED = N_("The account is closed; it takes no payment.")


def _address(conn: Connection, account: accounts.Account) -> str:
    point = as_of(conn, Entity.DELIVERY_POINT, account.delivery_point_id, datetime.now(UTC).date())
    return str(point.attributes.get("address") or account.delivery_point_id) if point else "–"


def _instruments(conn: Connection, account_id: UUID) -> list[instruments.Instrument]:
    """The account's instruments, newest first (digests never leave this function)."""
    c = prepay_instrument.c
    rows = conn.execute(
        select(prepay_instrument).where(c.account_id == account_id).order_by(c.issued_at.desc())
    )
    return [instruments.Instrument(**row._mapping) for row in rows]


def _transfer(conn: Connection, account_id: UUID, entry: dict[str, Any]) -> str:
    """A top-up's credit transfer as the ledger shows it: its command's state and id, or ''."""
    ref = entry.get("payment_ref")
    if entry.get("kind") != "topup" or not isinstance(ref, str):
        return ""
    sent = commands.of_request(conn, transfers.transfer_id(account_id, ref))
    return f"{sent[0].status} · {sent[0].id}" if sent else ""


def _minor(value: object) -> int:
    assert isinstance(value, int)
    return value


@pages.get("/prepay")
def account_list(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ, all_scope=True)),
) -> Response:
    """Every prepayment account with its delivery point, balance and supply state."""
    with console(request).ctx.engine.connect() as conn:
        rows = [
            {
                "account": a,
                "address": _address(conn, a),
                "balance": units.show(accounts.balance(conn, a.id), a.unit),
                "low": accounts.balance(conn, a.id) < a.low_credit_threshold,
            }
            for a in accounts.listing(conn, status=None)[:1000]
        ]
    return render(request, who, "prepay.html", rows=rows)


def _account_page(
    request: Request, who: Viewer, account_id: UUID, *, status: int = 200, **context: Any
) -> Response:
    with console(request).ctx.engine.connect() as conn:
        try:
            account = accounts.get(conn, account_id)
        except AccountNotFound:
            raise NotFound(str(account_id)) from None
        minor = accounts.balance(conn, account_id)
        entries = [
            {**e, "transfer": _transfer(conn, account_id, e)}
            for e in ledger.entries(conn, account_id, limit=200)
        ]
        held = _instruments(conn, account_id)
        sent = list(reversed(notices.listing(conn, account_id=account_id)))[:100]
        address = _address(conn, account)
    return render(
        request,
        who,
        "prepay_account.html",
        status=status,
        account=account,
        address=address,
        balance=units.show(minor, account.unit),
        low=minor < account.low_credit_threshold,
        threshold=units.show(account.low_credit_threshold, account.unit),
        entries=[{**e, "shown": units.show(_minor(e["amount"]), account.unit)} for e in entries],
        instruments=held,
        notices=sent,
        can_top_up=who.can(P.DATA_EDIT, all_scope=True) and account.status == "open",
        credit_on_meter=transfers.meter_runs_credit(console(request).ctx.profile),
        **context,
    )


@pages.get("/prepay/{account_id}")
def account_page(
    account_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ, all_scope=True)),
) -> Response:
    """One account: balance, ledger, instruments (masked), notices, and the top-up form."""
    return _account_page(request, who, uuid_or_404(account_id))


@pages.post("/prepay/{account_id}/topup")
def top_up(
    account_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.DATA_EDIT, all_scope=True)),
    form: FormData = Depends(posted),
) -> Response:
    """Record a payment (idempotent by its reference), optionally with the instrument used."""
    key = uuid_or_404(account_id)
    app = console(request)
    refused: InstrumentRefused | None = None
    try:
        amount_text = text(form, "amount", max_length=32).replace(",", ".").replace(" ", "")
        reference = text(form, "payment_ref", max_length=64)
        number = text(form, "instrument", max_length=80, required=False) or None
        with app.ctx.engine.begin() as conn:
            try:
                account = accounts.get(conn, key)
            except AccountNotFound:
                raise NotFound(str(key)) from None
            amount = units.parse(amount_text, account.unit)
            try:
                ledger.top_up(
                    conn,
                    grant.caller.principal,
                    key,
                    amount,
                    payment_ref=reference,
                    instrument=number,
                    source_address=source_address(request),
                )
            except InstrumentRefused as exc:
                refused = exc  # committed: the audit entry and the security event stay
        if refused is None:  # the payment is committed; its transfer goes in its own transaction
            with app.ctx.engine.begin() as conn:
                transfers.after_topup(
                    conn,
                    grant.caller.principal,
                    app.ctx.profile,
                    app.ctx.policy,
                    key,
                    reference,
                    source_address=source_address(request),
                )
    except FormError as exc:
        return _account_page(request, who, key, status=400, error=str(exc))
    except AccountNotFound:
        return _account_page(request, who, key, status=400, error=CLOSED)
    except InvalidAmount as exc:
        return _account_page(request, who, key, status=400, error=BAD_AMOUNT, detail=str(exc))
    if refused is not None:
        return _account_page(request, who, key, status=403, error=TOPUP_REFUSED[refused.rule])
    return redirect(f"{PREFIX}/prepay/{key}", "topped-up")
