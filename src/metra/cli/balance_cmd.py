"""``metra balance``: a substation's and its feeders' energy balance for a day (BAL-1).

Prints each element's input, customers' sum, imbalance against the permissible share and the
customers whose pattern most likely explains the imbalance, as Rich tables or JSON.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from metra.mdm.balance.run import substation_balance
from metra.profiles import ProfileError, load_profile
from metra.store import make_engine
from metra.store.errors import StoreError

from .common import fail

UNITS = {"Wh": 1e-3, "kWh": 1.0}


def _kwh(value: float | None) -> str:
    return "-" if value is None else f"{value:,.3f}"


def _print(console: Console, report: dict[str, Any], limit: int) -> None:
    elements = [report["substation"], *report["feeders"]]
    table = Table(title=f"Energy balance {report['day']}")
    for name in ("element", "balancing meter", "customers", "input kWh", "customers kWh"):
        table.add_column(name)
    for name in ("imbalance kWh", "imbalance", "permissible", "intervals", "status"):
        table.add_column(name)
    for e in elements:
        label = f"{e['kind']} {e['code']}"
        if "input_kwh" not in e:
            table.add_row(label, "-", str(e["customers"]), *["-"] * 6, "no balancing meter")
            continue
        percent = e["imbalance_percent"]
        table.add_row(
            label,
            e["balancing_meter"],
            str(e["customers"]),
            _kwh(e["input_kwh"]),
            _kwh(e["customers_kwh"]),
            _kwh(e["imbalance_kwh"]),
            "-" if percent is None else f"{percent:.2f} %",
            f"{e['permissible_percent']:.2f} %",
            f"{e['complete_intervals']}/{e['intervals']}",
            "EXCEEDED" if e["exceeded"] else "ok",
        )
    console.print(table)
    for e in elements:
        if e.get("suspects"):
            suspects = Table(title=f"For inspection: {e['kind']} {e['code']}")
            for name in ("#", "meter", "score", "correlation", "explained", "shortfall kWh"):
                suspects.add_column(name)
            suspects.add_column("flags")
            for rank, s in enumerate(e["suspects"][:limit], 1):
                suspects.add_row(
                    str(rank),
                    s["meter"],
                    f"{s['score']:.2f}",
                    f"{s['correlation']:.2f}",
                    f"{s['explained']:.0%}",
                    _kwh(s["shortfall_kwh"]),
                    ", ".join(s["flags"]),
                )
            console.print(suspects)
        if e.get("no_data"):
            console.print(f"{e['kind']} {e['code']}: no served data for {', '.join(e['no_data'])}")


def balance_command(
    substation: str = typer.Option(..., "--substation", help="Substation code."),
    day: str = typer.Option(..., "--day", help="Local day YYYY-MM-DD (profile's time zone)."),
    db: str = typer.Option(..., "--db", envvar="METRA_DB", help="Database URL or SQLite path."),
    profile: str = typer.Option("pl", "--profile", help="Jurisdiction profile: pl, ru, no, ua."),
    unit: str = typer.Option("Wh", "--unit", help="Unit of the stored channels: Wh or kWh."),
    suspects: int = typer.Option(10, "--suspects", min=0, help="Suspects listed per element."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Balance a substation and its feeders for a day; list the points to inspect."""
    try:
        on = date.fromisoformat(day)
    except ValueError:
        fail("--day must be YYYY-MM-DD")
    if unit not in UNITS:
        fail("--unit must be Wh or kWh")
    try:
        rules = load_profile(profile)
        engine = make_engine(db)
        with engine.connect() as conn:
            report = substation_balance(conn, substation, on, rules, to_kwh=UNITS[unit])
        engine.dispose()
    except (ProfileError, StoreError, ValueError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot read the store: {exc.__class__.__name__}")
    doc = report.to_json()
    if as_json:
        typer.echo(json.dumps(doc, sort_keys=True))
    else:
        _print(Console(), doc, suspects)
