"""The central balance against the meter's own (PRE-1), on a real virtual meter over loopback:
the meter runs its credit from its register, the ledger from collected, validated data; at the
day boundary they agree within rounding, and a credit the ledger does not know is reported."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

from commands.conftest import rig
from sqlalchemy import Engine, select

from metra.prepay import accounts, ledger, reconcile, tariffs, units
from metra.prepay.schema import prepay_reconciliation

from .conftest import clerk
from .fleet import collect_and_validate, link, meter_credit, reader

DAY = date(2025, 3, 12)
MIDNIGHT = datetime(2025, 3, 12, 0, 0, tzinfo=UTC)
NEXT_MIDNIGHT = datetime(2025, 3, 13, 0, 0, tzinfo=UTC)


def test_pre1_ledger_reconciled_with_the_meters_own_balance(
    file_engine: Engine, tmp_path: Path
) -> None:
    """PRE-1: meter and ledger both start the day at 50.00 PLN and price energy at 0.80 PLN/kWh;
    after the day is collected, validated and charged, the meter's credit read at midnight
    differs from the ledger by rounding only (<= 2 grosz). A further 5.00 PLN given to the
    meter alone is reported as a 500 grosz difference."""

    async def body() -> None:
        async with rig(file_engine, tmp_path, meters=1) as r:
            meter_id = r.ids[0]
            point = link(file_engine, meter_id)
            await meter_credit(r, meter_id, add=1_000_000, enable=True)  # running since 09:00
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
                ledger.top_up(c, clerk, account.id, 5000, payment_ref="opening")
            r.fleet.clock.set(MIDNIGHT)
            collector = reader(r)
            try:
                (before,) = await reconcile.read_balances(
                    lambda m, c, o, a: collector.read_on_demand(r.targets[m], c, o, a),
                    [meter_id],
                    r.fleet.clock.now,
                )
                assert before.enabled and before.balance is not None
                await meter_credit(r, meter_id, add=5000 - before.balance)  # opening: 50.00 PLN
                r.fleet.clock.set(NEXT_MIDNIGHT)
                await collect_and_validate(r, DAY)
                with file_engine.begin() as c:
                    charged = ledger.charge(c, account.id, DAY, now=r.fleet.clock.now())
                assert charged.days == [DAY] and charged.charged > 500  # a real day's use
                r.fleet.clock.set(NEXT_MIDNIGHT)

                async def read() -> list[reconcile.MeterBalance]:
                    return await reconcile.read_balances(
                        lambda m, c, o, a: collector.read_on_demand(r.targets[m], c, o, a),
                        [meter_id],
                        r.fleet.clock.now,
                    )

                with file_engine.begin() as c:
                    (same,) = reconcile.reconcile(c, await read(), tolerance=2)
                assert same.within_tolerance, same
                assert same.charged_through == DAY and same.note is None
                assert same.ledger_balance == 5000 - charged.charged
                await meter_credit(r, meter_id, add=500)
                r.fleet.clock.set(NEXT_MIDNIGHT)
                with file_engine.begin() as c:
                    (off,) = reconcile.reconcile(c, await read(), tolerance=2)
                assert not off.within_tolerance
                assert off.difference is not None and abs(off.difference - 500) <= 2
            finally:
                collector.close()
            with file_engine.connect() as c:
                stored = c.execute(select(prepay_reconciliation.c.within_tolerance)).all()
            assert [tuple(s) for s in stored] == [(True,), (False,)]

    asyncio.run(body())
