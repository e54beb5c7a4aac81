"""``metra dlms ...``: protocol tools for engineers (decode a trace line)."""

from __future__ import annotations

import json

import typer

from metra.dlms.describe import Keys, describe, to_xml
from metra.dlms.errors import DecodeError, SecurityError

from .common import fail, parse_hex

app = typer.Typer(help="DLMS/COSEM protocol tools.", no_args_is_help=True)


@app.command("decode")
def decode_command(
    hex_input: str = typer.Argument(..., metavar="HEX", help="Wrapper frame, HDLC frame or APDU."),
    ek: str | None = typer.Option(None, "--ek", help="Encryption key (hex) to decipher."),
    ak: str | None = typer.Option(None, "--ak", help="Authentication key (hex)."),
    system_title: str | None = typer.Option(
        None, "--system-title", help="Sender's system title (hex) for glo-/ded- APDUs."
    ),
    xml: bool = typer.Option(False, "--xml", help="Print XML instead of JSON."),
) -> None:
    """Decode a frame or APDU (deciphering when keys are given) and print it as JSON or XML."""
    raw = parse_hex(hex_input, "HEX")
    keys = None
    if ek is not None or ak is not None:
        if ek is None or ak is None:
            fail("deciphering needs both --ek and --ak")
        keys = Keys(
            parse_hex(ek, "--ek"),
            parse_hex(ak, "--ak"),
            parse_hex(system_title, "--system-title", length=8) if system_title else None,
        )
    try:
        tree = describe(raw, keys)
    except DecodeError as exc:
        where = f" at offset {exc.offset}" if exc.offset is not None else ""
        fail(f"malformed input{where}: {exc.reason}")
    except SecurityError as exc:
        fail(f"cannot decipher: {exc}")
    typer.echo(to_xml(tree).rstrip() if xml else json.dumps(tree, indent=2))
