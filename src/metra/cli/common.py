"""Small helpers every command shares: hex arguments and one-line failures."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line reason on stderr and exit non-zero (no traceback for user errors)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_hex(text: str, what: str, *, length: int | None = None) -> bytes:
    """Hex with optional spaces, colons or a 0x prefix; wrong length or digits fail clearly."""
    cleaned = text.strip().removeprefix("0x").replace(" ", "").replace(":", "").replace("-", "")
    try:
        value = bytes.fromhex(cleaned)
    except ValueError:
        fail(f"{what} is not hexadecimal")
    if length is not None and len(value) != length:
        fail(f"{what} must be {length} bytes, not {len(value)}")
    return value
