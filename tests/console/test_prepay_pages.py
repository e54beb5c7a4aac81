"""Prepayment accounts in the console (PRE-1, PRE-3, PRE-5): the list and the account page with
balance, ledger, masked instruments and notices; the top-up form is gated by `data:edit`,
audited by the ledger, idempotent by payment reference, and refuses a blacklisted card with a
security event while leaving the balance as it was."""

from __future__ import annotations

from uuid import UUID

from api.conftest import World
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metra.prepay import accounts, transfers
from metra.security.roles import Role
from metra.store import commands
from metra.store.command_schema import command_request
from metra.store.schema import audit_record, security_event

from .conftest import CARD, WITHDRAWN_CARD, as_role, console_app, first_id
from .test_login import csrf


def balance(world: World, account: str) -> int:
    with world.engine.connect() as conn:
        return accounts.balance(conn, UUID(account))


def count(world: World, table, where) -> int:  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()


def test_pre1_account_page_shows_balance_ledger_masked_instruments_and_notices(
    client: TestClient, world: World
) -> None:
    """PRE-1, PRE-5: the seeded account (50.00 PLN paid, 4 March charged) shows its balance,
    ledger lines, both cards by their last four characters only, and the balance notice."""
    account = first_id(world, "prepay_account")
    as_role(client, world, Role.OPERATOR)
    client.cookies.set("metra_lang", "en")
    listing = client.get("/console/prepay").text
    assert "Street a" in listing and "PLN" in listing
    page = client.get(f"/console/prepay/{account}").text
    shown = page.split('id="balance">')[1].split("<")[0]
    assert shown.endswith(" PLN") and shown == f"{balance(world, account) / 100:.2f} PLN"
    ledger = page.split('id="ledger"')[1].split("</table>")[0]
    assert "topup" in ledger and "SEED-1" in ledger and "50.00 PLN" in ledger
    instruments = page.split('id="instruments"')[1].split("</table>")[0]
    assert "•••• 4444" in instruments and "•••• 0004" in instruments
    assert "withdrawn" in instruments and "reported stolen" in instruments
    assert CARD not in page and "3333" not in page  # never more than the last four
    assert "balance" in page.split('id="notices"')[1]
    assert 'id="topup-form"' not in page  # the operator holds no data:edit


def test_pre5_top_up_is_gated_audited_idempotent_and_refuses_a_blacklisted_card(
    client: TestClient, world: World
) -> None:
    """PRE-5: the operator's post is refused (403, security event); the administrator's payment
    is recorded once although sent twice and audited; a withdrawn card is refused with a
    security event and the balance unchanged; a form without its token changes nothing."""
    account = first_id(world, "prepay_account")
    url = f"/console/prepay/{account}/topup"
    form = {"amount": "12,50", "payment_ref": "BANK-77", "instrument": CARD}
    as_role(client, world, Role.OPERATOR)
    page = client.get(f"/console/prepay/{account}")
    refused = client.post(url, data={**form, "csrf": csrf(page.text)})
    assert refused.status_code == 403 and 'id="forbidden"' in refused.text

    as_role(client, world, Role.ADMINISTRATOR)
    client.cookies.set("metra_lang", "en")
    token = csrf(client.get(f"/console/prepay/{account}").text)
    before = balance(world, account)
    assert client.post(url, data=form).status_code == 403  # no CSRF token
    assert balance(world, account) == before
    for _ in range(2):
        done = client.post(url, data={**form, "csrf": token})
        assert done.status_code == 303 and "done=topped-up" in done.headers["location"]
    assert balance(world, account) == before + 1250
    assert count(world, audit_record, audit_record.c.action == "prepay.topup") == 2  # seed + one
    # PRE-1: PL runs the meter's credit, so the committed payment went out as one credit transfer
    transfer = transfers.transfer_id(UUID(account), "BANK-77")
    with world.engine.connect() as conn:
        (sent,) = commands.of_request(conn, transfer)
    assert sent.kind == "credit_transfer" and sent.params and sent.params["amount"] == 1250
    page = client.get(f"/console/prepay/{account}").text
    assert f"{sent.status} · {sent.id}" in page.split('id="ledger"')[1]
    assert "sent to the meter's credit" in page.split('id="topup-meter"')[1]

    events = count(world, security_event, security_event.c.description.like("%withdrawn%"))
    stolen = client.post(
        url,
        data={"csrf": token, "amount": "5", "payment_ref": "BANK-78", "instrument": WITHDRAWN_CARD},
    )
    assert stolen.status_code == 403 and "on the blacklist" in stolen.text
    assert count(world, security_event, security_event.c.description.like("%withdrawn%")) == (
        events + 1
    )
    assert count(world, audit_record, audit_record.c.action == "prepay.topup.refused") == 1
    bad = client.post(url, data={"csrf": token, "amount": "1.234", "payment_ref": "BANK-79"})
    assert bad.status_code == 400 and "not valid" in bad.text
    assert balance(world, account) == before + 1250


def test_pre1_ua_console_top_up_is_not_sent_to_the_meter(world: World) -> None:
    """PRE-1, PRE-4: under the UA profile the form says the meter's credit is kept off, and a
    recorded payment makes no credit_transfer request."""
    account = first_id(world, "prepay_account")
    with TestClient(console_app(world, profile="ua"), follow_redirects=False) as client:
        as_role(client, world, Role.ADMINISTRATOR)
        client.cookies.set("metra_lang", "en")
        page = client.get(f"/console/prepay/{account}").text
        assert "kept off" in page.split('id="topup-meter"')[1]
        before = count(world, command_request, command_request.c.kind == "credit_transfer")
        done = client.post(
            f"/console/prepay/{account}/topup",
            data={"csrf": csrf(page), "amount": "3", "payment_ref": "UA-1"},
        )
        assert done.status_code == 303
    tid = transfers.transfer_id(UUID(account), "UA-1")
    assert count(world, command_request, command_request.c.id == tid) == 0
    assert count(world, command_request, command_request.c.kind == "credit_transfer") == before
