"""Proof of prepayment against the virtual fleet over loopback (PRE-1..PRE-5, JUR-1): a prepaid
UA meter runs out of credit on collected, validated consumption; the retailer's `by_balance`
request arrives through the hub's REST endpoint on Friday evening and the disconnection waits
for Monday 09:00 (no evenings, nights or weekends in Ukraine); the customer tops up (a
blacklisted card is refused first), the retailer asks again, the meter is reconnected and the
customer's outbox holds the low-credit, balance, disconnection and reconnection notices."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from commands.conftest import rig
from sqlalchemy import Engine

from metra.api import ApiSettings, create_app
from metra.api.routers import prepay_hub
from metra.dlms.cosem import objects
from metra.dlms.cosem.enums import ControlState
from metra.prepay import accounts, hub, instruments, ledger, notices, tariffs, units
from metra.prepay.errors import InstrumentRefused
from metra.profiles import load_profile
from metra.profiles.calendar import is_disconnection_allowed
from metra.security import login, users
from metra.security.roles import Permission, Role
from metra.store import commands

from .conftest import clerk
from .fleet import collect_and_validate, link

USED_DAY = date(2025, 3, 10)
FRIDAY_EVENING = datetime(2025, 3, 14, 17, 0, tzinfo=UTC)  # 19:00 in Kyiv
SATURDAY = datetime(2025, 3, 15, 10, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2025, 3, 17, 7, 0, tzinfo=UTC)  # 09:00 in Kyiv


def machine_token(engine: Engine) -> str:
    """The market hub's machine account: the service role, a token scoped to meters:command."""
    policy = load_profile("ua").passwords
    with engine.begin() as conn:
        admin_id, _ = users.bootstrap(conn, "admin", secret="First-secret-1")
        admin = users.principal(conn, admin_id)
        machine = users.create(conn, admin, "market-hub", policy=policy, kind="machine")
        users.grant(conn, admin, machine, Role.SERVICE)
        return login.issue_token(
            conn,
            machine,
            kind="machine",
            ttl=timedelta(days=1),
            scopes=[Permission.METERS_COMMAND],
        )


def test_pre1_to_pre5_prepaid_meter_out_of_credit_disconnected_when_allowed_then_reconnected(
    file_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PRE-1..PRE-5, JUR-1 (see the module docstring)."""
    monkeypatch.setenv("METRA_CONTROLLED_ZONES", "127.0.0.0/8")

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1, profile="ua") as r:
            meter_id = r.ids[0]
            ua = r.profile
            point = link(file_engine, meter_id)
            token = machine_token(file_engine)
            app = create_app(ApiSettings(db_url=str(file_engine.url.database), profile="ua"))
            app.dependency_overrides[prepay_hub.hub_clock] = r.fleet.clock.now
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 43000))
            api = httpx.AsyncClient(
                transport=transport,
                base_url="http://metra",
                headers={"Authorization": f"Bearer {token}"},
            )

            async def by_balance(message_id: str) -> dict[str, object]:
                answer = await api.post(
                    "/api/v1/hub/prepayment/messages",
                    json={
                        "message_id": message_id,
                        "kind": "by_balance",
                        "delivery_point_id": str(point.delivery_point_id),
                        "retailer_id": str(point.retailer_id),
                    },
                )
                assert answer.status_code == 202, answer.text
                found: dict[str, object] = answer.json()
                return found

            async def relay() -> ControlState:
                state = await r.read(meter_id, 70, objects.DISCONNECT_CONTROL, 3)
                return ControlState(int(state))  # type: ignore[call-overload]

            def follow_up(at: datetime) -> list[int]:
                with file_engine.begin() as c:
                    return notices.on_settled(c, ua, hub.settle(c, now=at), now=at)

            # PRE-1: a UAH account at 4.32 UAH/kWh with 10.00 UAH; one real day used.
            with file_engine.begin() as c:
                tariffs.set_tariff(c, clerk, "A1", "UAH", USED_DAY, units.parse_price("4.32"))
                account = accounts.open_account(
                    c,
                    clerk,
                    ua,
                    point.delivery_point_id,
                    unit="UAH",
                    starts_on=USED_DAY,
                    tariff_code="A1",
                )
                card = "5168 7420 0000 1234"
                instruments.issue(c, clerk, account.id, card)
                ledger.top_up(c, clerk, account.id, 1000, payment_ref="cash-1", instrument=card)
            await collect_and_validate(r, USED_DAY)
            now = r.fleet.clock.now()
            with file_engine.begin() as c:
                charged = ledger.charge(c, account.id, USED_DAY, now=now)
                assert charged.days == [USED_DAY] and charged.charged > 1000
                assert accounts.balance(c, account.id) < 0
                notices.run(c, ua, now=now)  # PRE-4 low credit, PRE-3 balance
            # PRE-2, PRE-4: Friday 19:00 in Kyiv; the disconnection waits for Monday 09:00.
            r.fleet.clock.set(FRIDAY_EVENING)
            asked = await by_balance("RET-0001")
            assert asked["action"] == "disconnect"
            assert asked["not_before"] == "2025-03-17T07:00:00Z"
            assert await r.runner.run_once(r.targets) == []
            r.fleet.clock.set(SATURDAY)
            assert await r.runner.run_once(r.targets) == []
            assert await relay() is ControlState.CONNECTED
            r.fleet.clock.set(MONDAY_MORNING + timedelta(seconds=5))
            done = await r.runner.run_once(r.targets)
            assert [(d.kind, d.status) for d in done] == [("disconnect", "confirmed")], done
            assert await relay() is ControlState.DISCONNECTED
            (listed,) = asked["command_ids"]  # type: ignore[misc]
            command_id = UUID(listed)
            with file_engine.connect() as c:
                trail = commands.history(c, command_id)
                deadline = commands.get(c, command_id).deadline
            (sent,) = [t.at for t in trail if t.to_status == "sent"]
            assert is_disconnection_allowed(ua, sent) and sent >= MONDAY_MORNING
            assert deadline is not None and sent < deadline  # within the hub's working day
            assert follow_up(r.fleet.clock.now())
            with file_engine.connect() as c:
                assert accounts.get(c, account.id).supply == "disconnected"
            # PRE-5: a withdrawn card is refused; the customer pays 500.00 UAH with another.
            with file_engine.begin() as c:
                instruments.withdraw(c, clerk, card, reason="lost")
                new_card = "5168 7420 0000 5678"
                instruments.issue(c, clerk, account.id, new_card)
            with pytest.raises(InstrumentRefused), file_engine.begin() as c:
                ledger.top_up(c, clerk, account.id, 50000, payment_ref="pay-2", instrument=card)
            with file_engine.begin() as c:
                paid = ledger.top_up(
                    c, clerk, account.id, 50000, payment_ref="pay-3", instrument=new_card
                )
            assert paid.balance > 0
            # PRE-2, PRE-3: the retailer asks again; reconnected without the customer present.
            again = await by_balance("RET-0002")
            assert again["action"] == "connect"
            done = await r.runner.run_once(r.targets)
            assert [(d.kind, d.status) for d in done] == [("connect", "confirmed")], done
            assert await relay() is ControlState.CONNECTED
            assert follow_up(r.fleet.clock.now())
            await api.aclose()
            with file_engine.connect() as c:
                assert accounts.get(c, account.id).supply == "connected"
                outbox = notices.outbox(c, account.id)
            assert [n.kind for n in outbox] == [
                "low_credit",
                "balance",
                "disconnected",
                "reconnected",
            ]
            reconnected = outbox[-1]
            assert reconnected.subject == "Supply reconnected"
            assert "was reconnected at 2025-03-17 09:00" in reconnected.body
            assert units.show(reconnected.balance, "UAH") in reconnected.body
            assert "Street a 1" in reconnected.body

    asyncio.run(body())
