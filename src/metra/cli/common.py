"""Small helpers every command shares: one-line failures, hex arguments, the jurisdiction
profile, JSON lines on stdout and the store option."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer

from metra.profiles import Profile, ProfileError, load_profile

DB = typer.Option(..., "--db", envvar="METRA_DB", help="Database URL or SQLite file path.")
PROFILE = typer.Option(..., "--profile", envvar="METRA_PROFILE", help="Jurisdiction profile.")


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


def profile_or_fail(code: str) -> Profile:
    """The jurisdiction profile named ``code``; an unknown one fails with the loader's reason."""
    try:
        return load_profile(code)
    except ProfileError as exc:
        fail(str(exc))


def print_json(value: Any) -> None:
    """One JSON object per line, keys sorted, dates and ids as text: stable for scripts."""
    typer.echo(json.dumps(value, default=str, ensure_ascii=False, sort_keys=True))
