"""Top-ups sent to the meter's own credit through the command engine (PRE-1, CMD-6), on a real
virtual meter over loopback: a top-up submitted twice raises the meter's credit once, a lost
answer's resend is answered "already applied", the top-up is marked on the meter, and the
reconciliation then finds no difference."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

from commands.conftest import ZONE, rig
from sqlalchemy import Engine, select

from metra.dlms.cosem.objects import STANDARD_EVENT_LOG
from metra.dlms.cosem.token import TOKEN_GATEWAY, TOKEN_GATEWAY_CLASS
from metra.headend.command_exec import Delivery, MeterKeys
from metra.prepay import accounts, ledger, reconcile, tariffs, transfers, units
from metra.prepay.schema import prepay_ledger
from metra.store import commands
from metra.store.commands import Priority

from .conftest import clerk
from .fleet import link, meter_credit, reader

DAY = date(2025, 3, 12)
MIDNIGHT = datetime(2025, 3, 12, 0, 0, tzinfo=UTC)
CREDIT_ADDED, CREDIT_TOKEN_REFUSED = 208, 211


def test_pre1_topup_reaches_the_meter_once_and_reconciles(
    file_engine: Engine, tmp_path: Path
) -> None:
    """PRE-1: ledger and meter both hold 50.00 PLN; a 20.00 PLN top-up is sent twice as a
    credit transfer (one request: the transfer id is the request id), confirmed by the meter's
    token status, its credit 70.00 PLN once; the stored command resent as after a lost answer is
    confirmed as already applied with the credit unchanged; the top-up is marked on the meter
    and reconciliation shows no difference."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            meter_id = r.ids[0]
            point = link(file_engine, meter_id)
            await meter_credit(r, meter_id, enable=True)
            r.fleet.clock.set(MIDNIGHT)
            collector = reader(r)

            async def read() -> list[reconcile.MeterBalance]:
                return await reconcile.read_balances(
                    lambda m, c, o, a: collector.read_on_demand(r.targets[m], c, o, a),
                    [meter_id],
                    r.fleet.clock.now,
                )

            try:
                (start,) = await read()
                assert start.balance is not None
                await meter_credit(r, meter_id, add=5000 - start.balance)  # opening: 50.00 PLN
                now = r.fleet.clock.now()
                with file_engine.begin() as c:
                    tariffs.set_tariff(c, clerk, "G11", "PLN", DAY, units.parse_price("0.80"))
                    account = accounts.open_account(
                        c,
                        clerk,
                        r.profile,
                        point.delivery_point_id,
                        unit="PLN",
                        starts_on=DAY,
                        tariff_code="G11",
                    )
                    ledger.top_up(c, clerk, account.id, 5000, payment_ref="opening", now=now)
                    ledger.top_up(c, clerk, account.id, 2000, payment_ref="pay-1", now=now)
                    first = transfers.send(c, clerk, r.profile, ZONE, account.id, "pay-1", now=now)
                with file_engine.begin() as c:
                    again = transfers.send(c, clerk, r.profile, ZONE, account.id, "pay-1", now=now)
                assert first.created and not again.created
                assert (
                    again.request_id
                    == first.request_id
                    == transfers.transfer_id(account.id, "pay-1")
                )
                assert again.command_ids == first.command_ids
                (cid,) = first.command_ids
                with file_engine.connect() as c:
                    cmd = commands.get(c, cid)
                assert cmd.kind == "credit_transfer" and cmd.priority == Priority.NORMAL
                assert cmd.params is not None and cmd.params["amount"] == 2000
                assert cmd.params["transfer_id"] == str(first.request_id)

                done = await r.runner.run_once(r.targets)
                assert [(d.status, d.reason) for d in done] == [("confirmed", None)]
                assert done[0].details["credit_before"] == 5000
                assert done[0].details["credit_after"] == 7000
                assert await r.runner.run_once(r.targets) == []
                (after,) = await read()
                assert after.balance == 7000  # once, not twice
                token = await r.read(meter_id, TOKEN_GATEWAY_CLASS, TOKEN_GATEWAY, 2)
                assert isinstance(token, bytes) and token[1:17] == first.request_id.bytes

                # The answer lost: the head-end sends the stored command again.
                with file_engine.connect() as c:
                    keys = MeterKeys({1: r.keystore.association(c, meter_id, "wan", 1)})
                resent = await r.executor.execute(r.targets[meter_id], cmd.kind, cmd.params, keys)
                assert resent.delivery is Delivery.CONFIRMED, resent.reason
                assert resent.details["already"] is True
                assert resent.details["credit_after"] == 7000
                assert (await read())[0].balance == 7000

                with file_engine.begin() as c:
                    marked = transfers.settle(c, now=r.fleet.clock.now())
                    assert [(m.payment_ref, m.amount) for m in marked] == [("pay-1", 2000)]
                    assert transfers.settle(c, now=r.fleet.clock.now()) == []
                with file_engine.connect() as c:
                    on_meter = dict(
                        c.execute(
                            select(prepay_ledger.c.payment_ref, prepay_ledger.c.on_meter_at)
                        ).all()
                    )
                assert on_meter["opening"] is None and on_meter["pay-1"] is not None
                with file_engine.begin() as c:
                    (same,) = reconcile.reconcile(c, await read(), tolerance=0)
                assert same.ledger_balance == 7000 and same.difference == 0
                assert same.within_tolerance
            finally:
                collector.close()
            codes = await r.log_codes(meter_id, STANDARD_EVENT_LOG)
            # The service adjustment (opening), the transfer, the resend refused as applied.
            assert codes[-3:] == [CREDIT_ADDED, CREDIT_ADDED, CREDIT_TOKEN_REFUSED]

    asyncio.run(body())
