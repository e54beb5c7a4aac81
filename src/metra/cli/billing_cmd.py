"""``metra billing``: a meter's billing determinants for a local month (BAL-2).

Computes from the served VEE data (zone energy and maximum demand, tan(phi), peak hours, P Q S
extremes, losses to the delivery point); `--store` keeps them as a versioned, audited record
with the input versions used, and says whether the previous record had gone stale.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from metra.mdm.billing.inputs import point_attributes
from metra.mdm.billing.month import compute_month
from metra.mdm.billing.records import latest, stale, store
from metra.mdm.billing.zones import UnknownTariff
from metra.profiles import Profile, ProfileError, load_profile
from metra.store import make_engine
from metra.store.errors import NotFound, StoreError
from metra.store.masterdata import Entity, as_of, find

from .balance_cmd import UNITS
from .common import fail


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        fail("--month must be YYYY-MM")


def _meter(conn: Connection, serial: str, month: date) -> UUID:
    last = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    for on in (month, last):
        found = find(conn, Entity.METER, on, serial=serial)
        if found:
            return found[0]
    raise NotFound(f"no meter with serial {serial!r} in {month:%Y-%m}")


def _tariff(conn: Connection, meter: UUID, month: date, profile: Profile) -> str | None:
    """The delivery point's consumer group when it names one of the profile's tariffs."""
    point = point_attributes(conn, meter, month)
    if not point:
        return None
    delivery = as_of(conn, Entity.DELIVERY_POINT, point["delivery_point_id"], month)
    group = None if delivery is None else delivery.attributes["consumer_group"]
    return group if group in {t.name for t in profile.billing.tariffs} else None


def _v(value: float | None, fmt: str = ",.3f") -> str:
    return "-" if value is None else format(value, fmt)


def _print(console: Console, serial: str, doc: dict[str, Any]) -> None:
    zones = Table(title=f"{serial} {doc['first_day'][:7]} tariff {doc['tariff']}")
    for name in ("zone", "energy kWh", "max demand kW", "at (UTC)"):
        zones.add_column(name)
    for zone in doc["zones"]:
        demand = doc["max_demand_kw"][zone]
        zones.add_row(zone, _v(doc["energy_kwh"][zone]), _v(demand["value"]), demand["at"] or "-")
    zones.add_row("total", _v(doc["energy_total_kwh"]), "", "")
    console.print(zones)
    tan = doc["tan_phi"]
    power = doc["power"]
    facts = Table(title="tan(phi), peak hours, power, losses")
    facts.add_column("determinant")
    facts.add_column("value")
    facts.add_column("at (UTC)")
    facts.add_row(
        "tan(phi) limit / month", f"{_v(tan['limit'], '.2f')} / {_v(tan['month'], '.3f')}", ""
    )
    facts.add_row("minutes above the limit", _v(tan["minutes_outside"], ",.0f"), "")
    facts.add_row(
        "largest excess", _v(tan["max_excess"]["value"], ".3f"), tan["max_excess"]["at"] or "-"
    )
    facts.add_row(
        "peak hours: mean of daily max kWh", _v(doc["peak_hours"]["mean_of_daily_max_kwh"]), ""
    )
    for key, label in (("p", "P kW"), ("q", "Q kvar"), ("s", "S kVA")):
        unit = {"p": "kw", "q": "kvar", "s": "kva"}[key]
        for end in ("max", "min"):
            e = power[f"{key}_{end}_{unit}"]
            facts.add_row(f"{label} {end}", _v(e["value"]), e["at"] or "-")
    facts.add_row("losses to delivery point kWh", _v(doc["losses_to_delivery_point_kwh"]), "")
    facts.add_row("missing intervals", str(doc["missing_intervals"]), "")
    console.print(facts)
    days = Table(title="per day")
    days.add_column("day")
    days.add_column("type")
    for zone in doc["zones"]:
        days.add_column(f"{zone} kWh")
        days.add_column(f"{zone} max kW")
    days.add_column("tan(phi) min")
    days.add_column("peak max kWh")
    days.add_column("missing")
    for d in doc["days"]:
        cells = []
        for zone in doc["zones"]:
            cells += [_v(d["energy_kwh"][zone]), _v(d["max_demand_kw"][zone])]
        days.add_row(
            d["day"],
            d["day_type"],
            *cells,
            _v(d["tan_phi_minutes_outside"], ",.0f"),
            _v(d["peak_hour_max_kwh"]),
            str(d["missing_intervals"]),
        )
    console.print(days)


def billing_command(
    meter: str = typer.Option(..., "--meter", help="Meter serial."),
    month: str = typer.Option(..., "--month", help="Local month YYYY-MM."),
    db: str = typer.Option(..., "--db", envvar="METRA_DB", help="Database URL or SQLite path."),
    profile: str = typer.Option("pl", "--profile", help="Jurisdiction profile: pl, ru, no, ua."),
    tariff: str | None = typer.Option(
        None, "--tariff", help="Tariff (default: the delivery point's group, else the profile's)."
    ),
    unit: str = typer.Option("Wh", "--unit", help="Unit of the stored channels: Wh or kWh."),
    keep: bool = typer.Option(False, "--store", help="Store as a versioned, audited record."),
    actor: str | None = typer.Option(
        None, "--actor", help="Who stores (audit trail; default: the login name)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Billing determinants of one meter for a month; optionally store them."""
    first = _month(month)
    if unit not in UNITS:
        fail("--unit must be Wh or kWh")
    try:
        rules = load_profile(profile)
        engine = make_engine(db)
        with engine.begin() if keep else engine.connect() as conn:
            meter_id = _meter(conn, meter, first)
            name = tariff or _tariff(conn, meter_id, first, rules)
            run = compute_month(conn, [meter_id], first, rules, tariff=name, to_kwh=UNITS[unit])
            doc = {
                **run.determinants.record(0),
                "losses_to_delivery_point_kwh": float(run.losses_kwh[0]),
            }
            result: dict[str, Any] = {"meter": meter, "determinants": doc}
            if keep:
                before = latest(conn, meter_id, first, run.determinants.tariff.name)
                result["previous_stale"] = None if before is None else stale(conn, before)
                by = actor or f"cli:{getpass.getuser()}"
                result["versions_added"] = store(conn, run, at=datetime.now(UTC), by=by)
                now = latest(conn, meter_id, first, run.determinants.tariff.name)
                result["version"] = None if now is None else now.version
        engine.dispose()
    except (ProfileError, StoreError, UnknownTariff, ValueError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot use the store: {exc.__class__.__name__}")
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    console = Console()
    _print(console, meter, doc)
    if keep:
        console.print(
            f"stored: version {result['version']} ({result['versions_added']} added; "
            f"previous stale: {result['previous_stale']})"
        )
