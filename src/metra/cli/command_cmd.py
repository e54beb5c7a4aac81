"""``metra command``: submit, approve, list, show, cancel and run commands to meters.

Every sub-command acts as a named user who logs in first (``--as``; password and, where the
profile asks, a TOTP code from a hidden prompt or standard input, never from arguments), so each
request, approval and cancellation is attributed in the audit trail. The command line runs on the
central system itself, so its source address is the loopback address: breaker and firmware
commands work from here only if the installation lists the console in its controlled zone
(``--zones`` / ``METRA_CONTROLLED_ZONES``, comma-separated networks; none by default).

``run`` executes one pass of the queue against meters whose addresses come from a fleet inventory
(the store does not keep communication addresses yet), with the meters' keys from the key store
(``METRA_MASTER_KEY``), signing CMD-6 commands with the operator's private key (a PEM file only
its owner may read) and checking firmware with the vendor's public key.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Connection

from metra.headend import command_params, parameter_file
from metra.headend.collector import MeterTarget
from metra.headend.command_exec import CommandExecutor, ExecutorSettings
from metra.headend.command_params import ParamsError
from metra.headend.command_runner import CommandRunner
from metra.headend.errors import HeadEndError
from metra.headend.firmware import FirmwareStore
from metra.headend.importer import read_file
from metra.headend.keystore import KeyStore, MasterKey
from metra.headend.parameter_file import ParameterFileError
from metra.mdm.kpi.population import population
from metra.profiles import Profile
from metra.profiles.model import COMMAND_KINDS
from metra.security import command_requests
from metra.security.errors import SecurityLayerError
from metra.security.roles import Permission, Principal, require
from metra.security.safeguards import CommandPolicy
from metra.store import commands, make_engine
from metra.store.errors import StoreError
from metra.store.masterdata import Entity, find

from .common import DB, PROFILE, fail, parse_hex, print_json, profile_or_fail
from .session import ACTOR, log_in

app = typer.Typer(
    help="Commands to meters: submit, parameterise, approve, list, show, cancel, run."
)

ZONES = typer.Option(
    "",
    "--zones",
    envvar="METRA_CONTROLLED_ZONES",
    help="Controlled-zone networks, comma-separated (breaker and firmware commands).",
)
SOURCE = "127.0.0.1"
MAX_PARAMS_FILE = 1 << 20


def _policy(zones: str) -> CommandPolicy:
    try:
        return CommandPolicy.parse(zones.split(","))
    except SecurityLayerError as exc:
        fail(str(exc))


def _meters(conn: Connection, serials: list[str]) -> list[UUID]:
    found = []
    for serial in serials:
        ids = find(conn, Entity.METER, date.today(), serial=serial)
        if not ids:
            fail(f"no meter with serial {serial!r}")
        found.append(ids[0])
    return found


def _params(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse (numbers, true, lists), else text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--param needs key=value, not {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _params_file(path: Path | None) -> dict[str, Any]:
    """A JSON object of parameters from a file (bounded: parameters are small)."""
    if path is None:
        return {}
    try:
        if path.stat().st_size > MAX_PARAMS_FILE:
            fail(f"{path}: larger than {MAX_PARAMS_FILE} octets")
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path}: {exc}")
    if not isinstance(value, dict):
        fail(f"{path}: expected a JSON object")
    return value


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--at {text!r} is not an ISO 8601 time")
    if when.tzinfo is None:
        fail("--at needs a UTC offset (e.g. 2026-03-02T10:00+01:00)")
    return when


def _command_json(conn: Connection, cmd: commands.Command) -> dict[str, Any]:
    return {
        "id": str(cmd.id),
        "request": str(commands.request_of(conn, cmd.id)),
        "meter": str(cmd.meter_id),
        "kind": cmd.kind,
        "status": cmd.status,
        "priority": "high" if cmd.priority == commands.Priority.HIGH else "normal",
        "params": cmd.params,
        "not_before": cmd.not_before,
        "deadline": cmd.deadline,
        "attempts": commands.attempts(conn, cmd.id),
        "result": cmd.result,
    }


@contextmanager
def _acting(
    db: str, rules: Profile, actor: str, errors: tuple[type[Exception], ...]
) -> Iterator[tuple[Connection, Principal]]:
    """A connection and the logged-in actor for one sub-command; the store is closed either way
    and the ``errors`` a sub-command expects become one-line failures."""
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            yield conn, log_in(conn, actor, rules, SOURCE)
    except errors as exc:
        fail(str(exc))
    finally:
        engine.dispose()


@contextmanager
def _refusal_kept(conn: Connection) -> Iterator[None]:
    """One transaction around a request; a security refusal is committed with the security
    event it recorded, then reported as a one-line failure."""
    refused: SecurityLayerError | None = None
    with conn.begin():
        try:
            yield
        except SecurityLayerError as exc:
            refused = exc
    if refused is not None:
        fail(str(refused))


@app.command("submit")
def submit_command(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(COMMAND_KINDS)}."),
    meter: list[str] = typer.Option(..., "--meter", help="Meter serial (repeat for several)."),
    param: list[str] = typer.Option([], "--param", help="key=value (e.g. watts=5000)."),
    params_file: Path | None = typer.Option(
        None, "--params-file", help="A JSON object of parameters (e.g. a calendar)."
    ),
    at: str | None = typer.Option(None, "--at", help="Execution time, ISO 8601 with offset."),
    emergency: bool = typer.Option(False, "--emergency", help="Emergency (rationing) mode."),
    prepayment: bool = typer.Option(False, "--prepayment", help="A prepayment disconnection."),
    reason: str | None = typer.Option(None, "--reason", help="Why (required in emergency)."),
    request_id: str | None = typer.Option(None, "--id", help="Request id (idempotent retry)."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
    zones: str = ZONES,
) -> None:
    """Submit a request; prints its id, status and the approvals it still needs."""
    rules, policy = profile_or_fail(profile), _policy(zones)
    values = {**_params_file(params_file), **_params(param)}
    try:
        command_params.check(kind, values)
    except ParamsError as exc:
        fail(f"parameters refused, nothing submitted: {exc}")
    with (
        _acting(db, rules, actor, (StoreError, ValueError)) as (conn, who),
        _refusal_kept(conn),
    ):
        done = command_requests.submit(
            conn,
            who,
            rules,
            policy,
            kind,
            _meters(conn, meter),
            source_address=SOURCE,
            params=values,
            request_id=UUID(request_id) if request_id else None,
            reason=reason,
            emergency=emergency,
            prepayment=prepayment,
            execute_at=_when(at),
        )
    print_json(
        {
            "request": str(done.request_id),
            "status": done.status,
            "approvals_required": done.approvals_required,
            "commands": [str(c) for c in done.command_ids],
            "created": done.created,
        }
    )


@app.command("parameterise")
def parameterise_command(
    file: Path = typer.Option(..., "--file", help="Prepared parameter file (JSON or TOML)."),
    meter: list[str] = typer.Option([], "--meter", help="Meter serial (repeat for several)."),
    substation: str | None = typer.Option(
        None, "--substation", help="Every meter installed behind this substation (code)."
    ),
    at: str | None = typer.Option(None, "--at", help="Execution time, ISO 8601 with offset."),
    request_id: str | None = typer.Option(None, "--id", help="Request id (idempotent retry)."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
    zones: str = ZONES,
) -> None:
    """Apply a prepared parameter file to a group of meters (CMD-8): the file is checked whole
    first (a bad one is refused and nothing is submitted), then one request with a command per
    meter; `run` executes them and `show <request>` gives each meter's result."""
    if bool(meter) == (substation is not None):
        fail("name the group: --meter (repeatable) or --substation, not both")
    try:
        prepared = parameter_file.load(file)
    except ParameterFileError as exc:
        fail(f"parameter file refused, nothing submitted: {exc}")
    rules, policy = profile_or_fail(profile), _policy(zones)
    with (
        _acting(db, rules, actor, (StoreError, ValueError)) as (conn, who),
        _refusal_kept(conn),
    ):
        group = _meters(conn, meter) if meter else _substation_meters(conn, rules, substation)
        done = command_requests.submit(
            conn,
            who,
            rules,
            policy,
            "parameterise",
            group,
            source_address=SOURCE,
            params=prepared.params(),
            request_id=UUID(request_id) if request_id else None,
            reason=f"parameter file {prepared.name} (sha256 {prepared.sha256})",
            execute_at=_when(at),
        )
    print_json(
        {
            "request": str(done.request_id),
            "status": done.status,
            "file": prepared.name,
            "sha256": prepared.sha256,
            "settings": len(prepared.settings),
            "meters": len(group),
            "commands": [str(c) for c in done.command_ids],
            "created": done.created,
        }
    )


def _substation_meters(conn: Connection, profile: Profile, code: str | None) -> list[UUID]:
    """The meters installed today behind the substation with this code (master data)."""
    pop = population(conn, profile, date.today())
    found = [m for m, c in zip(pop.meter_ids, pop.substation_codes, strict=True) if c == code]
    if not found:
        fail(f"no meter installed behind substation {code!r}")
    return found


@app.command("approve")
def approve_command(
    request_id: str = typer.Argument(..., help="The request to approve."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
    zones: str = ZONES,
) -> None:
    """Approve another person's request (never one's own, SEC-4)."""
    rules, policy = profile_or_fail(profile), _policy(zones)
    with (
        _acting(db, rules, actor, (StoreError, ValueError)) as (conn, who),
        _refusal_kept(conn),
    ):
        request = command_requests.approve(
            conn, who, policy, UUID(request_id), source_address=SOURCE
        )
    print_json({"request": request_id, "status": request.status, "approvers": request.approvers})


@app.command("cancel")
def cancel_command(
    request_id: str = typer.Argument(..., help="The request whose unsent commands stop."),
    reason: str | None = typer.Option(None, "--reason"),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Cancel every command of a request not yet sent."""
    rules = profile_or_fail(profile)
    with (
        _acting(db, rules, actor, (StoreError, SecurityLayerError, ValueError)) as (conn, who),
        conn.begin(),
    ):
        gone = command_requests.cancel(
            conn, who, UUID(request_id), source_address=SOURCE, reason=reason
        )
    print_json({"request": request_id, "cancelled": [str(c) for c in gone]})


@app.command("list")
def list_command(
    status: commands.Status | None = typer.Option(None, "--status"),
    awaiting: bool = typer.Option(False, "--awaiting", help="The approvals inbox instead."),
    limit: int = typer.Option(100, "--limit", min=1, max=10000),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Commands newest first (JSON lines), or the requests awaiting a second person."""
    rules = profile_or_fail(profile)
    with _acting(db, rules, actor, (SecurityLayerError,)) as (conn, who):
        require(who, Permission.EVENTS_READ)
        if awaiting:
            for request in commands.requests_awaiting(conn, limit):
                print_json(request.__dict__)
            return
        for cmd in commands.listing(conn, status=status, limit=limit):
            print_json(_command_json(conn, cmd))


@app.command("show")
def show_command(
    ident: str = typer.Argument(..., help="A command or request id."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """A command with its history, or a request with its approvers and commands."""
    rules = profile_or_fail(profile)
    with _acting(db, rules, actor, (StoreError, SecurityLayerError, ValueError)) as (conn, who):
        require(who, Permission.EVENTS_READ)
        key = UUID(ident)
        request = commands.find_request(conn, key)
        if request is not None:
            body = dict(request.__dict__)
            body["commands"] = [_command_json(conn, c) for c in commands.of_request(conn, key)]
            print_json(body)
            return
        cmd = commands.get(conn, key)
        body = _command_json(conn, cmd)
        body["history"] = [t.__dict__ for t in commands.history(conn, key)]
        print_json(body)


def _private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The operator's signing key from a PEM file only its owner may read."""
    try:
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            fail(f"{path} is open to group or others: chmod 600 it")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        fail(f"operator key {path}: {exc}")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        fail("the operator key must be an EC (P-256) private key")
    return key


def _public_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        fail(f"vendor key {path}: {exc}")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        fail("the vendor key must be an EC public key")
    return key


@app.command("run")
def run_command(
    inventory: Path = typer.Option(..., "--inventory", help="Fleet inventory (addresses)."),
    kek: str = typer.Option(..., "--kek", envvar="METRA_KEK", help="The inventory's KEK (hex)."),
    operator_key: Path | None = typer.Option(
        None, "--operator-key", help="PEM private key signing CMD-6 commands."
    ),
    vendor_key: Path | None = typer.Option(
        None, "--vendor-key", help="PEM public key of the firmware vendor."
    ),
    client_title: str = typer.Option(
        "4d45543030303031", "--system-title", help="The head-end's system title (hex)."
    ),
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Execute one pass of the command queue; prints one JSON line per command handled."""
    rules = profile_or_fail(profile)
    try:
        meters = read_file(inventory, parse_hex(kek, "--kek"))
        keystore = KeyStore(MasterKey.load(os.environ))
    except HeadEndError as exc:
        fail(str(exc))
    engine = make_engine(db)
    targets: dict[UUID, MeterTarget] = {}
    with engine.connect() as conn:
        for m in meters:
            ids = find(conn, Entity.METER, date.today(), serial=m.serial)
            if ids and m.address is not None:
                targets[ids[0]] = MeterTarget(
                    ids[0], m.serial, m.system_title, m.address.host, m.address.port
                )
    executor = CommandExecutor(
        ExecutorSettings(
            parse_hex(client_title, "--system-title", length=8),
            operator_key=_private_key(operator_key) if operator_key else None,
        )
    )
    runner = CommandRunner(
        engine,
        keystore,
        rules,
        executor,
        firmware=FirmwareStore(_public_key(vendor_key)) if vendor_key else None,
    )
    try:
        results = asyncio.run(runner.run_once(targets))
    finally:
        runner.close()
        engine.dispose()
    for r in results:
        print_json(
            {
                "command": str(r.command_id),
                "meter": str(r.meter_id),
                "kind": r.kind,
                "status": r.status,
                "reason": r.reason,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
