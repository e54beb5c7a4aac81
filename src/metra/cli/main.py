"""Entry point of the ``metra`` console script; each sub-command group lives in its own module."""

from __future__ import annotations

import typer

from metra import __version__

from . import (
    audit_cmd,
    collect_cmd,
    demo_cmd,
    dlms_cmd,
    export_cmd,
    fleet_cmd,
    import_cmd,
    kpi_cmd,
    read_cmd,
    serve_cmd,
    users_cmd,
    vee_cmd,
)
from .balance_cmd import balance_command
from .billing_cmd import billing_command
from .command_cmd import app as command_app
from .pq_cmd import app as pq_app
from .prepay_cmd import app as prepay_app

app = typer.Typer(
    name="metra",
    help="metra: smart electricity metering (DLMS/COSEM head-end, MDM, virtual meters).",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"metra {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """metra: smart electricity metering (DLMS/COSEM head-end, MDM, virtual meters)."""


app.add_typer(dlms_cmd.app, name="dlms")
app.command("read")(read_cmd.read_command)
app.command("fleet")(fleet_cmd.fleet_command)
app.command("demo")(demo_cmd.demo_command)
app.add_typer(collect_cmd.app, name="collect")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(users_cmd.app, name="users")
app.command("serve")(serve_cmd.serve_command)
app.command("kpi")(kpi_cmd.kpi_command)
app.command("balance")(balance_command)
app.command("billing")(billing_command)
app.add_typer(command_app, name="command")
app.add_typer(prepay_app, name="prepay")
app.add_typer(pq_app, name="pq")
app.add_typer(vee_cmd.app, name="vee")
app.add_typer(export_cmd.app, name="export")
app.add_typer(import_cmd.app, name="import")
