"""Accounts, tariffs, top-ups with payment instruments and the blacklist, and balances
decremented from served (validated / estimated) consumption, on SQLite and PostgreSQL
(PRE-1, PRE-5). Expected figures are computed by hand in the docstrings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Connection, select

from metra.prepay import accounts, instruments, ledger, tariffs, units
from metra.prepay.errors import InstrumentRefused, InvalidAmount, NotEligible
from metra.prepay.schema import prepay_ledger
from metra.profiles import Profile, load_profile
from metra.security.errors import AccessDenied
from metra.store.schema import audit_record, security_event

from .conftest import NOW, Point, clerk, make_point, operator, serve_day

D1 = date(2025, 3, 10)
D2, D3, D4 = D1 + timedelta(days=1), D1 + timedelta(days=2), D1 + timedelta(days=3)


def money_account(conn: Connection, pl: Profile, point: Point) -> accounts.Account:
    tariffs.set_tariff(conn, clerk, "G11P", "PLN", D1, units.parse_price("0.80"), 50, now=NOW)
    return accounts.open_account(
        conn, clerk, pl, point.delivery_point_id, unit="PLN", starts_on=D1, tariff_code="G11P"
    )


def test_pre1_money_balance_from_served_consumption_at_each_days_tariff(
    conn: Connection, pl: Profile, point: Point
) -> None:
    """PRE-1: 100.00 PLN topped up; day 1 serves 96 x 100 Wh = 9.6 kWh at 0.80 PLN + 0.50 PLN
    daily = 8.18 PLN; day 2 4.8 kWh = 4.34 PLN -> 87.48 PLN. VEE then serves day 2 again with
    7.2 kWh (real data replace an estimate): +1.92 PLN more -> 85.56 PLN. Day 3, priced from
    its own date at 1.00 PLN/kWh, waits while its served data have a gap, day 4 has none."""
    account = money_account(conn, pl, point)
    tariffs.set_tariff(conn, clerk, "G11P", "PLN", D3, units.parse_price("1.00"), 50, now=NOW)
    assert account.low_credit_threshold == 2000  # the profile's 20.0 PLN
    ledger.top_up(conn, clerk, account.id, units.parse("100.00", "PLN"), payment_ref="P-1")
    serve_day(conn, point.meter_id, D1, 100.0)
    serve_day(conn, point.meter_id, D2, 50.0)
    serve_day(conn, point.meter_id, D3, 10.0, gap=True)
    first = ledger.charge(conn, account.id, D4, now=NOW)
    assert (first.charged, first.days, first.pending) == (818 + 434, [D1, D2], [D3, D4])
    assert first.charged_through == D2
    assert accounts.balance(conn, account.id) == 8748
    again = ledger.charge(conn, account.id, D4, now=NOW)
    assert (again.charged, again.days) == (0, [])  # nothing is charged twice
    serve_day(conn, point.meter_id, D2, 75.0)
    corrected = ledger.charge(conn, account.id, D4, now=NOW)
    assert (corrected.charged, corrected.days) == (192, [D2])
    assert accounts.balance(conn, account.id) == 8556
    serve_day(conn, point.meter_id, D3, 10.0)  # the gap filled: 0.96 kWh at 1.00 + 0.50
    assert ledger.charge(conn, account.id, D4, now=NOW).charged == 146
    assert units.show(accounts.balance(conn, account.id), "PLN") == "84.10 PLN"
    lines = conn.execute(
        select(prepay_ledger.c.day, prepay_ledger.c.vee_version, prepay_ledger.c.amount)
        .where(prepay_ledger.c.kind == "consumption")
        .order_by(prepay_ledger.c.id)
    ).all()
    assert [tuple(r) for r in lines] == [(D1, 1, -818), (D2, 1, -434), (D2, 2, -192), (D3, 2, -146)]


def test_pre1_energy_account_counts_wh(conn: Connection, pl: Profile, point: Point) -> None:
    """PRE-1: an account in energy: 20.000 kWh topped up, 9.6 kWh used -> 10.400 kWh."""
    account = accounts.open_account(
        conn,
        clerk,
        pl,
        point.delivery_point_id,
        unit="kWh",
        starts_on=D1,
        low_credit_threshold=units.parse("5", "kWh"),
    )
    ledger.top_up(conn, clerk, account.id, units.parse("20.000", "kWh"), payment_ref="E-1")
    serve_day(conn, point.meter_id, D1, 100.0)
    ledger.charge(conn, account.id, D1, now=NOW)
    assert units.show(accounts.balance(conn, account.id), "kWh") == "10.400 kWh"
    with pytest.raises(InvalidAmount):
        accounts.open_account(
            conn,
            clerk,
            pl,
            make_point(conn, "b").delivery_point_id,
            unit="kWh",
            starts_on=D1,
            tariff_code="G11P",
        )


def test_pre1_eligibility_told_by_the_operator(conn: Connection, pl: Profile, point: Point) -> None:
    """PRE-1 (S1 14.1): a point is eligible with a main meter where the jurisdiction offers
    prepayment; Norway does not, a point without a meter is not, and one account per point."""
    assert accounts.eligibility(conn, pl, point.delivery_point_id, D1).eligible
    no = load_profile("no")
    refused = accounts.eligibility(conn, no, point.delivery_point_id, D1)
    assert not refused.eligible and "does not offer" in (refused.reason or "")
    money_account(conn, pl, point)
    with pytest.raises(NotEligible, match="open account already"):
        accounts.open_account(
            conn, clerk, pl, point.delivery_point_id, unit="PLN", starts_on=D1, tariff_code="G11P"
        )
    with pytest.raises(InvalidAmount, match="PLN"):
        accounts.open_account(
            conn,
            clerk,
            pl,
            make_point(conn, "c").delivery_point_id,
            unit="EUR",
            starts_on=D1,
            tariff_code="G11P",
        )


def test_pre5_withdrawn_instrument_refused_typed_and_audited(
    conn: Connection, pl: Profile, point: Point
) -> None:
    """PRE-5 (S4 5.6.1): issued instruments pay; a withdrawn (blacklisted), unknown or other
    account's instrument is refused with `InstrumentRefused`, audited and raised as a security
    event, and the balance stays as it was. Only a digest of the number is stored."""
    account = money_account(conn, pl, point)
    other = accounts.open_account(
        conn,
        clerk,
        pl,
        make_point(conn, "b").delivery_point_id,
        unit="PLN",
        starts_on=D1,
        tariff_code="G11P",
    )
    card = "4000 1234 5678 9010"
    instruments.issue(conn, clerk, account.id, card, now=NOW)
    instruments.issue(conn, clerk, other.id, "TOKEN-0002", kind="token", now=NOW)
    paid = ledger.top_up(conn, clerk, account.id, 5000, payment_ref="P-1", instrument=card)
    assert paid.balance == 5000 and paid.created
    assert not ledger.top_up(conn, clerk, account.id, 5000, payment_ref="P-1").created
    instruments.withdraw(conn, clerk, card, reason="reported stolen", now=NOW)
    instruments.withdraw(conn, clerk, "9999888877776666", reason="forged series", now=NOW)
    refusals = {}
    for number in (card, "9999888877776666", "1111222233334444", "TOKEN-0002"):
        with pytest.raises(InstrumentRefused) as caught:
            ledger.top_up(conn, clerk, account.id, 100, payment_ref=number, instrument=number)
        refusals[number[-4:]] = caught.value.rule
    assert refusals == {
        "9010": "withdrawn",
        "6666": "withdrawn",
        "4444": "unknown",
        "0002": "other_account",
    }
    assert accounts.balance(conn, account.id) == 5000
    assert sorted(i.last4 for i in instruments.blacklist(conn)) == ["6666", "9010"]
    with pytest.raises(InstrumentRefused):
        instruments.issue(conn, clerk, other.id, card)  # a blacklisted number is never reissued
    audited = conn.execute(
        select(audit_record.c.details).where(audit_record.c.action == "prepay.topup.refused")
    ).scalars()
    assert sorted(d["after"]["rule"] for d in audited) == sorted(refusals.values())
    events = conn.execute(select(security_event.c.description)).scalars().all()
    assert sum("top-up refused" in e for e in events) == 4
    stored = conn.execute(select(prepay_ledger.c.instrument_sha256)).scalars().all()
    assert all(card.replace(" ", "").encode() not in bytes(s or b"") for s in stored)


def test_pre5_tariffs_and_topups_need_their_permissions(
    conn: Connection, pl: Profile, point: Point
) -> None:
    """PRE-5: tariffs are programmed only with the parameterisation right; an operator who may
    only read cannot set one, open an account or record a payment."""
    account = money_account(conn, pl, point)
    with pytest.raises(AccessDenied):
        tariffs.set_tariff(conn, operator, "X", "PLN", D1, 1)
    with pytest.raises(AccessDenied):
        ledger.top_up(conn, operator, account.id, 100, payment_ref="P-9")
    with pytest.raises(AccessDenied):
        accounts.open_account(conn, operator, pl, point.delivery_point_id, unit="PLN", starts_on=D1)


@pytest.mark.parametrize(
    ("text", "unit", "minor"),
    [("12.34", "PLN", 1234), ("0.5", "UAH", 50), ("1.250", "kWh", 1250), ("7", "NOK", 700)],
)
def test_pre1_amounts_parse_exactly(text: str, unit: str, minor: int) -> None:
    """PRE-1: amounts are integers in minor units, parsed from decimal text."""
    assert units.parse(text, unit) == minor


@pytest.mark.parametrize(
    ("text", "unit"),
    [("12.345", "PLN"), ("-1", "PLN"), ("abc", "PLN"), ("1", "pln"), ("nan", "PLN")],
)
def test_pre1_bad_amounts_refused(text: str, unit: str) -> None:
    """PRE-1: too many decimals, negatives, non-numbers and unknown units are refused."""
    with pytest.raises(InvalidAmount):
        units.parse(text, unit)


def test_pre1_cost_rounds_half_up() -> None:
    """PRE-1: 1 Wh at 5.000000 PLN/kWh is 0.5 grosz -> 1 grosz; 12.345 kWh at 0.6123 PLN ->
    7.5588... PLN -> 756 grosz."""
    assert units.cost(1.0, 5_000_000) == 1
    assert units.cost(12345.0, 612_300) == 756
