"""``metra export``: readings, events and the wholesale report to files; verify a signed report.

`metra export readings|events|wholesale --meter S | --group FILE | --substation CODE --from D
--to D --format csv|txt|xml|cim --out FILE --user U` logs the user in (password, then TOTP where
required, from the terminal or standard input), checks the permission (reading data; releasing
data with `--recipient` for a third party, ACC-6), writes the file next to its final name and
moves it into place only when complete, then records the release in the audit trail: who, for
whom, which period, which meters and metering points, which format, and the file's SHA-256.
`--sign KEY --cert CERT` signs the wholesale report with the operator's key (ACC-4); a profile
that requires signed reports refuses an unsigned one. `metra export verify FILE --cert CERT`
checks a signed report against the operator's certificate. `docs/exports.md` documents the files.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import typer
from sqlalchemy import Connection

from metra.mdm import exports
from metra.mdm.exports import selection as selecting
from metra.mdm.exports import signing
from metra.mdm.exports.run import Format, Kind, Request, Signer
from metra.profiles import Profile
from metra.security import audit
from metra.security.errors import SecurityLayerError
from metra.security.roles import Permission, Principal, Scope, require
from metra.store import make_engine
from metra.store.errors import StoreError

from .common import DB, fail, profile_or_fail
from .session import CLI_SOURCE, act_as_kept

app = typer.Typer(help="Exports of metering data to files (CSV, TXT, XML, IEC 61968-9).")

KEY_PASSWORD_ENV = "METRA_SIGNING_KEY_PASSWORD"
PROFILE = typer.Option("pl", "--profile", envvar="METRA_PROFILE", help="Jurisdiction profile.")
METER = typer.Option(None, "--meter", help="One meter (serial or id).")
GROUP = typer.Option(None, "--group", help="File listing meters, one serial or id per line.")
SUBSTATION = typer.Option(None, "--substation", help="Substation code (members from master data).")
FIRST = typer.Option(..., "--from", help="First day (YYYY-MM-DD, in the export's zone).")
LAST = typer.Option(..., "--to", help="Last day, inclusive.")
OUT = typer.Option(..., "--out", help="File to write.")
USER = typer.Option(..., "--user", help="The user releasing the data (logs in).")
RECIPIENT = typer.Option(
    None, "--recipient", help="Third party receiving the file (retailer, consumer, integration)."
)
LOCAL = typer.Option(False, "--local", help="Profile's local time instead of UTC.")
UNIT = typer.Option(0.001, "--unit-kwh", min=1e-9, help="kWh per stored unit (the fleet: Wh).")


def _period(first: str, last: str) -> selecting.Period:
    try:
        return selecting.Period(date.fromisoformat(first), date.fromisoformat(last))
    except ValueError as exc:
        fail(f"--from / --to: {exc}")


def _selection(
    conn: Connection,
    meter: str | None,
    group: Path | None,
    substation: str | None,
    period: selecting.Period,
) -> selecting.Selection:
    given = [x for x in (meter, group, substation) if x is not None]
    if len(given) != 1:
        fail("give exactly one of --meter, --group, --substation")
    if meter is not None:
        return selecting.one_meter(conn, meter, period)
    if group is not None:
        try:
            lines = group.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read group file {group}: {exc}")
        return selecting.group(conn, lines, group.name, period)
    assert substation is not None
    return selecting.substation(conn, substation, period)


def _principal(conn: Connection, user: str, profile: Profile, needs: list[Permission]) -> Principal:
    """Log the user in and check every permission at full scope (the CLI is an operator's tool;
    retailers and consumers get their own points through the API)."""
    try:
        principal = act_as_kept(conn, user, profile, CLI_SOURCE)
        for permission in needs:
            if require(principal, permission) is not Scope.ALL:
                fail(f"{user} holds {permission.value} only for their own points: use the API")
    except SecurityLayerError as exc:
        fail(f"{user} may not export: {exc}")
    return principal


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _release(
    conn: Connection,
    principal: Principal,
    recipient: str | None,
    kind: Kind,
    fmt: str,
    source: str,
    chosen: selecting.Selection,
    period: selecting.Period,
    zone: str,
    rows: int,
    out: Path,
) -> None:
    with conn.begin():
        exports.record_release(
            conn,
            exports.Release(
                actor=principal.username,
                recipient=recipient,
                kind=kind.value,
                fmt=fmt,
                source=source,
                selection=chosen,
                period=period,
                zone=zone,
                rows=rows,
                sha256=_digest(out),
                file_name=out.name,
                points=selecting.metering_points(conn, chosen, period.first),
            ),
        )
        audit.seal(conn)


def _data_export(
    kind: Kind,
    fmt: Format,
    meter: str | None,
    group: Path | None,
    substation: str | None,
    first: str,
    last: str,
    out: Path,
    user: str,
    recipient: str | None,
    local: bool,
    db: str,
    profile_code: str,
    source: exports.Source = exports.Source.SERVED,
    channels: list[str] | None = None,
    unit_kwh: float = 0.001,
) -> None:
    profile = profile_or_fail(profile_code)
    period = _period(first, last)
    read = Permission.READINGS_READ if kind is Kind.READINGS else Permission.EVENTS_READ
    needs = [read, *([Permission.EXPORTS_RELEASE] if recipient else [])]
    engine = make_engine(db)
    part = out.with_name(out.name + ".part")
    try:
        with engine.connect() as conn:
            principal = _principal(conn, user, profile, needs)
            with conn.begin():
                chosen = _selection(conn, meter, group, substation, period)
                request = Request(
                    kind, fmt, chosen, period, local, source, channels or None, unit_kwh
                )
                with part.open("w", encoding="utf-8", newline="") as stream:
                    rows = exports.export(conn, request, profile, stream)
            os.replace(part, out)
            zone = profile.timezone if local else "UTC"
            src = source.value if kind is Kind.READINGS else ""
            _release(
                conn, principal, recipient, kind, fmt.value, src, chosen, period, zone, rows, out
            )
    except (exports.ExportError, StoreError, OSError) as exc:
        part.unlink(missing_ok=True)
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"{out}: {rows} rows, {len(chosen.meters)} meters ({chosen.kind} {chosen.label})")


@app.command("readings")
def readings_command(
    out: Path = OUT,
    first: str = FIRST,
    last: str = LAST,
    user: str = USER,
    meter: str | None = METER,
    group: Path | None = GROUP,
    substation: str | None = SUBSTATION,
    fmt: Format = typer.Option(Format.CSV, "--format", help="csv, txt, xml or cim."),
    source: exports.Source = typer.Option(
        exports.Source.SERVED, "--source", help="served (validated) or raw."
    ),
    channel: list[str] = typer.Option([], "--channel", help="Only these channels (OBIS)."),
    recipient: str | None = RECIPIENT,
    local: bool = LOCAL,
    unit_kwh: float = UNIT,
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Intervals with status, register and billing values for a meter, group or substation."""
    _data_export(
        Kind.READINGS, fmt, meter, group, substation, first, last, out, user, recipient, local,
        db, profile, source, channel, unit_kwh,
    )  # fmt: skip


@app.command("events")
def events_command(
    out: Path = OUT,
    first: str = FIRST,
    last: str = LAST,
    user: str = USER,
    meter: str | None = METER,
    group: Path | None = GROUP,
    substation: str | None = SUBSTATION,
    fmt: Format = typer.Option(Format.CSV, "--format", help="csv, txt, xml or cim."),
    recipient: str | None = RECIPIENT,
    local: bool = LOCAL,
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Meter events for a meter, group or substation."""
    _data_export(
        Kind.EVENTS, fmt, meter, group, substation, first, last, out, user, recipient, local,
        db, profile,
    )  # fmt: skip


def _signer(key: Path | None, cert: Path | None) -> Signer | None:
    if key is None and cert is None:
        return None
    if key is None or cert is None:
        fail("--sign and --cert go together")
    password = os.environ.get(KEY_PASSWORD_ENV)
    try:
        return Signer(key.read_bytes(), cert.read_bytes(), password.encode() if password else None)
    except OSError as exc:
        fail(f"cannot read the key or certificate: {exc}")


@app.command("wholesale")
def wholesale_command(
    out: Path = OUT,
    first: str = FIRST,
    last: str = LAST,
    user: str = USER,
    meter: str | None = METER,
    group: Path | None = GROUP,
    substation: str | None = SUBSTATION,
    fmt: Format = typer.Option(Format.XML, "--format", help="xml (the only form)."),
    sign: Path | None = typer.Option(None, "--sign", help="Operator's private key (PEM)."),
    cert: Path | None = typer.Option(None, "--cert", help="Operator's certificate (PEM)."),
    state: str = typer.Option("preliminary", "--state", help="preliminary or agreed."),
    recipient: str | None = RECIPIENT,
    unit_kwh: float = UNIT,
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Hourly energy per meter in local time; signed where the profile requires it (ACC-4)."""
    if fmt is not Format.XML:
        fail("the wholesale report is XML only")
    rules = profile_or_fail(profile)
    period = _period(first, last)
    signer = _signer(sign, cert)
    needs = [Permission.READINGS_READ, *([Permission.EXPORTS_RELEASE] if recipient else [])]
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            principal = _principal(conn, user, rules, needs)
            with conn.begin():
                chosen = _selection(conn, meter, group, substation, period)
                document, hours = exports.wholesale_report(
                    conn,
                    chosen,
                    period,
                    rules,
                    report_id=str(uuid4()),
                    operator=principal.username,
                    created=datetime.now(UTC),
                    state=state,
                    signer=signer,
                    unit_kwh=unit_kwh,
                )
            part = out.with_name(out.name + ".part")
            part.write_bytes(document)
            os.replace(part, out)
            kind = "xml-signed" if signer else "xml"
            _release(
                conn, principal, recipient, Kind.WHOLESALE, kind, "served", chosen, period,
                rules.timezone, hours, out,
            )  # fmt: skip
    except (exports.ExportError, StoreError, OSError) as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    signed = "signed" if signer else "unsigned"
    typer.echo(f"{out}: {hours} hours, {len(chosen.meters)} meters, {signed}")


@app.command("verify")
def verify_command(
    file: Path = typer.Argument(..., help="A signed report."),
    cert: Path = typer.Option(..., "--cert", help="The operator's certificate (PEM), trusted."),
) -> None:
    """Check a signed report against the operator's certificate; exit 1 if it does not verify."""
    try:
        verified = signing.verify_xml(file.read_bytes(), cert.read_bytes())
    except OSError as exc:
        fail(str(exc))
    except exports.SignatureError as exc:
        fail(f"{file}: {exc}")
    typer.echo(f"{file}: signature valid, signed by {verified.subject}")
