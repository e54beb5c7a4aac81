"""The retailer's requests through the market hub (PRE-2, PRE-4, JUR-1): deadlines from the
profile's working days, idempotence by message id, decisions by balance, superseded requests
cancelled, and only the retailer's own points; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection

from metra.prepay import accounts, hub, ledger, tariffs, units
from metra.prepay.errors import HubRefused
from metra.profiles import Profile, ProfileError
from metra.profiles.calendar import is_disconnection_allowed
from metra.profiles.loader import load_profile_file
from metra.security.roles import Principal, Role
from metra.security.safeguards import CommandPolicy
from metra.store import commands

from .conftest import Point, clerk, person

WARSAW, KYIV = ZoneInfo("Europe/Warsaw"), ZoneInfo("Europe/Kyiv")
ZONE = CommandPolicy.parse(["127.0.0.0/8"])
LOCAL = "127.0.0.1"
hub_account = person("market-hub", Role.SERVICE)


def prepaid(conn: Connection, profile: Profile, point: Point, currency: str) -> accounts.Account:
    day = date(2025, 3, 1)
    tariffs.set_tariff(conn, clerk, "T", currency, day, units.parse_price("0.80"))
    return accounts.open_account(
        conn, clerk, profile, point.delivery_point_id, unit=currency, starts_on=day, tariff_code="T"
    )


def send(
    conn: Connection,
    profile: Profile,
    point: Point,
    message_id: str,
    kind: str,
    at: datetime,
    actor: Principal = hub_account,
    **kw: object,
) -> hub.HubAnswer:
    message = hub.HubMessage(message_id, kind, point.delivery_point_id, **kw)  # type: ignore[arg-type]
    return hub.receive(conn, actor, profile, ZONE, message, source_address=LOCAL, now=at)


def test_pre2_hub_request_executed_within_one_working_day_pl(
    conn: Connection, pl: Profile, point: Point
) -> None:
    """PRE-2 (S1 14.2-14.4): a retailer's disconnection asked on Friday 14 March 2025 at 15:00
    in Warsaw must be executed by the end of the next working day, Monday 17 March 24:00
    (2025-03-17T23:00Z); Friday afternoon is an allowed time, so it may run at once. The same
    message again acts no more; the same id with other content is refused."""
    prepaid(conn, pl, point, "PLN")
    friday = datetime(2025, 3, 14, 15, 0, tzinfo=WARSAW)
    answer = send(conn, pl, point, "HUB-1", "disconnect", friday)
    assert answer.action == "disconnect" and answer.status == "queued"
    assert answer.deadline == datetime(2025, 3, 17, 23, 0, tzinfo=UTC)
    assert answer.not_before == friday
    assert [c.id for c in commands.due(conn, friday)] == list(answer.command_ids)
    again = send(conn, pl, point, "HUB-1", "disconnect", friday + timedelta(minutes=5))
    assert again.replayed and again.command_ids == answer.command_ids
    assert len(commands.listing(conn, meter_id=point.meter_id)) == 1
    with pytest.raises(HubRefused) as other:
        send(conn, pl, point, "HUB-1", "connect", friday)
    assert other.value.rule == "replay"


def test_pre2_pre4_by_balance_disconnects_at_the_next_allowed_time_and_topup_cancels(
    conn: Connection, ua: Profile, point: Point
) -> None:
    """PRE-2, PRE-4: with the balance at zero, `by_balance` on Friday 14 March 2025 at 19:00 in
    Kyiv asks for a disconnection that waits for Monday 09:00 (UA: no disconnection in the
    evening, at night or at weekends). A top-up on Saturday and a new `by_balance` cancel it;
    a third `by_balance` with credit does nothing."""
    account = prepaid(conn, ua, point, "UAH")
    evening = datetime(2025, 3, 14, 19, 0, tzinfo=KYIV)
    first = send(conn, ua, point, "M-1", "by_balance", evening)
    assert (first.action, first.balance) == ("disconnect", 0)
    monday = datetime(2025, 3, 17, 9, 0, tzinfo=KYIV)
    assert first.not_before == monday and is_disconnection_allowed(ua, monday)
    assert commands.due(conn, evening + timedelta(days=1)) == []
    saturday = evening + timedelta(hours=15)
    ledger.top_up(conn, clerk, account.id, 20000, payment_ref="pay-1", now=saturday)
    second = send(conn, ua, point, "M-2", "by_balance", saturday)
    assert second.action == "none" and second.cancelled == first.command_ids
    assert commands.get(conn, first.command_ids[0]).status == "cancelled"
    assert commands.due(conn, monday) == []
    settled = hub.settle(conn, now=saturday)
    assert [(s.message_id, s.outcome) for s in settled] == [("M-1", "cancelled")]
    assert accounts.get(conn, account.id).supply == "connected"
    assert send(conn, ua, point, "M-3", "by_balance", saturday).action == "none"


def test_pre2_hub_names_only_the_retailers_own_points(
    conn: Connection, pl: Profile, point: Point
) -> None:
    """PRE-2: a message for a point another retailer supplies, or from a retailer's machine
    account for someone else's point, is refused; so is one for a point without an account."""
    at = datetime(2025, 3, 11, 10, 0, tzinfo=WARSAW)
    with pytest.raises(HubRefused) as bare:
        send(conn, pl, point, "X-1", "disconnect", at)
    assert bare.value.rule == "no_account"
    prepaid(conn, pl, point, "PLN")
    with pytest.raises(HubRefused) as named:
        send(conn, pl, point, "X-2", "disconnect", at, retailer_id=uuid4())
    own = Principal(uuid4(), "retailer-b-hub", frozenset({Role.SERVICE}), party_id=uuid4())
    with pytest.raises(HubRefused) as theirs:
        send(conn, pl, point, "X-3", "disconnect", at, actor=own)
    assert named.value.rule == theirs.value.rule == "retailer"
    ok = send(conn, pl, point, "X-4", "connect", at, retailer_id=point.retailer_id)
    assert ok.action == "connect"


@pytest.mark.parametrize("days", [0, 31])
def test_jur1_hub_deadline_is_a_validated_profile_field(
    tmp_path: Path, pl: Profile, days: int
) -> None:
    """JUR-1, PRE-2: the hub's deadline is the profile's `hub_request_deadline_working_days`
    (PL: 1); a value outside 1..30 working days is refused when the profile loads."""
    assert pl.prepayment.hub_request_deadline_working_days == 1
    source = Path(__file__).parents[2] / "src/metra/profiles/data/pl.toml"
    text = source.read_text().replace(
        "hub_request_deadline_working_days = 1", f"hub_request_deadline_working_days = {days}"
    )
    bad = tmp_path / "pl.toml"
    bad.write_text(text)
    with pytest.raises(ProfileError, match="hub_request_deadline_working_days"):
        load_profile_file(bad)
