"""``metra audit``: verify the hash-chained audit trail (STO-5) and show its entries.

`verify` exits 1 when the chain is broken and names the first bad entry, so it can run from cron
or a monitoring probe; `--anchor SEQ:HASH` (printed by an earlier verify) also detects removal of
the newest entries.
"""

from __future__ import annotations

import json

import typer

from metra.security import audit
from metra.store import audit as store_audit
from metra.store import make_engine

from .common import DB, fail, parse_hex

app = typer.Typer(
    help="The audit trail: verify its hash chain, show entries.", no_args_is_help=True
)


@app.command("verify")
def verify_command(
    db: str = DB,
    anchor: str | None = typer.Option(
        None, "--anchor", help="SEQ:HASH of an entry noted earlier, which must still be there."
    ),
) -> None:
    """Walk the chain; exit 1 on an edited, deleted or inserted entry."""
    pinned: tuple[int, bytes] | None = None
    if anchor is not None:
        seq_text, _, hash_text = anchor.partition(":")
        if not seq_text.isdigit():
            fail("--anchor must be SEQ:HASH")
        pinned = (int(seq_text), parse_hex(hash_text, "--anchor hash", length=32))
    engine = make_engine(db)
    with engine.connect() as conn:
        result = audit.verify(conn, anchor=pinned)
    engine.dispose()
    if not result.ok:
        fail(f"audit trail tampered: entry {result.first_bad_seq} {result.problem}")
    typer.echo(f"ok: {result.checked} sealed entries, {result.pending} pending")
    if result.head_seq is not None and result.head_hash is not None:
        typer.echo(f"anchor: {result.head_seq}:{result.head_hash.hex()}")


@app.command("show")
def show_command(
    db: str = DB,
    after: int = typer.Option(0, "--after", help="Show entries with a sequence above this."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
) -> None:
    """Print entries as JSON lines, oldest first."""
    engine = make_engine(db)
    with engine.connect() as conn:
        entries = store_audit.entries(conn, after_seq=after, limit=limit)
    engine.dispose()
    for e in entries:
        line = {
            "seq": e.seq,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "target": [e.target_kind, e.target_id],
            "details": e.details,
            "sealed": e.hash is not None,
        }
        typer.echo(json.dumps(line, sort_keys=True))


@app.command("seal")
def seal_command(db: str = DB) -> None:
    """Chain entries other components appended without a hash."""
    engine = make_engine(db)
    with engine.begin() as conn:
        tip = audit.seal(conn)
    engine.dispose()
    typer.echo(f"sealed; chain tip {tip.hex()}")
