"""``metra fleet``: serve a fleet of virtual meters on loopback and write its inventory.

The inventory's keys are wrapped under a key-encryption key the operator gives (``--kek`` or
``METRA_KEK``); there is no default, and a short one is refused, because an inventory is only as
safe as its KEK.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from metra.meter.faults import FaultRates
from metra.meter.fleet import Fleet, FleetConfig, FleetError, Security
from metra.meter.inventory import KEK_LENGTHS
from metra.net.client import Transport
from metra.profiles import available_profiles

from .common import fail, parse_hex


class SecurityChoice(StrEnum):
    none = "none"
    hls_gmac = "hls-gmac"
    suite1 = "suite1"


class TransportChoice(StrEnum):
    wrapper = "wrapper"
    hdlc = "hdlc"


_SECURITY: dict[SecurityChoice, Security] = {
    SecurityChoice.none: "none",
    SecurityChoice.hls_gmac: "hls-gmac",
    SecurityChoice.suite1: "suite1",
}
_TRANSPORT: dict[TransportChoice, Transport] = {
    TransportChoice.wrapper: "wrapper",
    TransportChoice.hdlc: "hdlc",
}


def _parse_start(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail("--start is not an ISO date or date-time")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _parse_kek(text: str | None) -> bytes:
    if not text:
        fail("a key-encryption key is required: --kek HEX or METRA_KEK (16, 24 or 32 bytes)")
    kek = parse_hex(text, "the key-encryption key")
    if len(kek) not in KEK_LENGTHS:
        fail(f"the key-encryption key must be 16, 24 or 32 bytes, not {len(kek)}")
    return kek


def _load_rates(path: Path | None) -> FaultRates | None:
    if path is None:
        return None
    try:
        return FaultRates.load(path)
    except (OSError, ValueError) as exc:
        fail(f"cannot load fault rates: {exc}")


async def _run(fleet: Fleet, inventory: Path, kek: bytes, run_for: float | None) -> None:
    console = Console(stderr=True)
    columns = (
        TextColumn("starting meters"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("start", total=len(fleet.meters))
        await fleet.start(lambda done, _total: progress.update(task, completed=done))
    try:
        fleet.write_inventory(inventory, kek)
        ports = [slot.port for slot in fleet.meters]
        config = fleet.config
        mode = config.transport + (" in TLS 1.3" if config.tls else "")
        typer.echo(
            f"serving {len(ports)} meters on {config.host} ports {min(ports)}..{max(ports)} "
            f"({mode}, security {config.security}, clock {fleet.clock.now().isoformat()})"
        )
        typer.echo(f"inventory: {inventory}")
        if fleet.tls is not None:
            typer.echo(f"TLS CA certificate: {fleet.tls.ca_file}")
        if run_for is None:
            typer.echo("press Ctrl-C to stop")
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(run_for)
    finally:
        await fleet.stop()


def fleet_command(
    meters: int = typer.Option(..., "--meters", min=1, help="Number of virtual meters."),
    seed: int = typer.Option(0, "--seed", help="Seed of identities, customer types and faults."),
    profile: str = typer.Option("pl", "--profile", help="Jurisdiction profile: pl, ru, no, ua."),
    security: SecurityChoice = typer.Option(SecurityChoice.hls_gmac, "--security"),
    transport: TransportChoice = typer.Option(TransportChoice.wrapper, "--transport"),
    tls: bool = typer.Option(False, "--tls", help="TLS 1.3 on every communication module."),
    faults: Path | None = typer.Option(None, "--faults", help="Fault rates (JSON or TOML)."),
    start: str | None = typer.Option(None, "--start", help="Fleet clock start (ISO)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address every meter listens on."),
    port_base: int | None = typer.Option(
        None, "--port-base", help="Meter i listens on PORT_BASE+i (default: ports from the OS)."
    ),
    allow: list[str] | None = typer.Option(
        None, "--allow", help="IP whitelist of the communication modules (repeatable)."
    ),
    inventory: Path = typer.Option(..., "--inventory", help="Where to write the inventory JSON."),
    kek: str | None = typer.Option(
        None, "--kek", envvar="METRA_KEK", help="Key-encryption key (hex, 16/24/32 bytes)."
    ),
    run_for: float | None = typer.Option(
        None, "--run-for", help="Stop after this many seconds instead of waiting for Ctrl-C."
    ),
) -> None:
    """Serve N virtual meters over TCP and write their inventory (keys wrapped, RFC 3394)."""
    key = _parse_kek(kek)
    if profile not in available_profiles():
        fail(f"unknown profile {profile!r}; one of {', '.join(available_profiles())}")
    try:
        config = FleetConfig(
            meters=meters,
            seed=seed,
            profile=profile,
            security=_SECURITY[security],
            transport=_TRANSPORT[transport],
            tls=tls,
            tls_dir=inventory.parent,
            tls_stem=inventory.stem,
            host=host,
            port_base=port_base,
            allowed_hosts=tuple(allow) if allow else None,
            fault_rates=_load_rates(faults),
            start=_parse_start(start),
        )
        fleet = Fleet(config)
    except (FleetError, ValueError) as exc:
        fail(str(exc))
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(fleet, inventory, key, run_for))
    except (FleetError, OSError) as exc:
        fail(str(exc))
