"""``metra users``: bootstrap the first administrator, add accounts, grant and revoke roles,
change a password.

Secrets are never taken from the command line (they would land in shell history and the process
list): passwords come from a hidden prompt, or one per line on standard input when it is not a
terminal; the bootstrap secret may come from ``METRA_BOOTSTRAP_SECRET``. Commands that change
accounts act as a named administrator who logs in first (``--as``), TOTP included when the
profile requires it, so every change is attributed in the audit trail.
"""

from __future__ import annotations

import getpass
import os
import sys
from uuid import UUID

import typer
from sqlalchemy import Connection

from metra.profiles import Profile, ProfileError, load_profile
from metra.security import login, totp, users
from metra.security.errors import SecurityLayerError
from metra.security.roles import Principal, Role
from metra.security.sealing import SecretBox
from metra.store import make_engine

from .common import fail

app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)

BOOTSTRAP_ENV = "METRA_BOOTSTRAP_SECRET"
DB = typer.Option(..., "--db", envvar="METRA_DB", help="Database URL or SQLite file path.")
PROFILE = typer.Option(..., "--profile", envvar="METRA_PROFILE", help="Jurisdiction profile.")
ACTOR = typer.Option(..., "--as", help="The administrator carrying out the change.")
SOURCE = "cli"


def _secret(prompt: str) -> str:
    """A secret from a hidden prompt, or the next line of stdin when it is not a terminal."""
    if sys.stdin.isatty():
        return getpass.getpass(f"{prompt}: ")
    line = sys.stdin.readline()
    if not line:
        fail(f"{prompt}: nothing on standard input")
    return line.rstrip("\r\n")


def _profile(code: str) -> Profile:
    try:
        return load_profile(code)
    except ProfileError as exc:
        fail(str(exc))


def _act_as(conn: Connection, username: str, profile: Profile) -> Principal:
    """Log the acting administrator in (password, TOTP when required) and return the principal."""
    password = _secret(f"password for {username}")
    code: str | None = None
    box: SecretBox | None = None
    user = users.find(conn, username)
    if user is not None and user.totp_enrolled:
        box = SecretBox.from_env()
        code = _secret("TOTP code")
    result = login.login(
        conn,
        username,
        password,
        policy=profile.passwords,
        source_address=SOURCE,
        totp_code=code,
        box=box,
    )
    if result.restricted:
        fail(f"{username} must first change the password and enrol TOTP")
    return login.authenticate(conn, result.token)


def _user_id(conn: Connection, username: str) -> UUID:
    user = users.find(conn, username)
    if user is None:
        fail(f"no user {username!r}")
    return user.id


@app.command("bootstrap")
def bootstrap_command(
    db: str = DB,
    username: str = typer.Option("admin", "--username", help="Name of the first administrator."),
) -> None:
    """Create the first administrator on an empty system and print its one-time secret once."""
    given = os.environ.get(BOOTSTRAP_ENV) or None
    engine = make_engine(db)
    try:
        with engine.begin() as conn:
            _, secret = users.bootstrap(conn, username, secret=given, source_address=SOURCE)
    except SecurityLayerError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"administrator {username!r} created; it must change its password at first log-in")
    if given is None:
        typer.echo(f"one-time secret (shown only now): {secret}")


def _as_admin(conn: Connection, actor: str, profile: Profile) -> Principal:
    """Log in inside its own committed transaction, so a failure is kept and counts (SEC-5)."""
    try:
        with conn.begin():
            return _act_as(conn, actor, profile)
    except SecurityLayerError as exc:
        fail(f"log-in refused: {exc}")


@app.command("add")
def add_command(
    username: str = typer.Argument(..., help="Name of the new account."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
    machine: bool = typer.Option(False, "--machine", help="A machine client (tokens only)."),
) -> None:
    """Create an account with no role; a person's initial password is read after the actor's."""
    rules = _profile(profile)
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            admin = _as_admin(conn, actor, rules)
            initial = None if machine else _secret(f"initial password for {username}")
            with conn.begin():
                users.create(
                    conn,
                    admin,
                    username,
                    policy=rules.passwords,
                    initial_password=initial,
                    kind="machine" if machine else "person",
                    source_address=SOURCE,
                )
    except SecurityLayerError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"user {username!r} created with no role")


def _change_role(db: str, profile: str, actor: str, username: str, role: Role, give: bool) -> None:
    rules = _profile(profile)
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            admin = _as_admin(conn, actor, rules)
            with conn.begin():
                target = _user_id(conn, username)
                change = users.grant if give else users.revoke
                change(conn, admin, target, role, source_address=SOURCE)
    except SecurityLayerError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(
        f"{'granted' if give else 'revoked'} {role.value} {'to' if give else 'from'} {username}"
    )


@app.command("grant")
def grant_command(
    username: str = typer.Argument(...),
    role: Role = typer.Argument(...),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Give a role to an account (never to oneself, SEC-4)."""
    _change_role(db, profile, actor, username, role, give=True)


@app.command("revoke")
def revoke_command(
    username: str = typer.Argument(...),
    role: Role = typer.Argument(...),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
) -> None:
    """Withdraw a role from an account."""
    _change_role(db, profile, actor, username, role, give=False)


@app.command("passwd")
def passwd_command(
    username: str = typer.Argument(...),
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Change one's own password: the current one, then the new one twice."""
    rules = _profile(profile)
    current = _secret("current password")
    new = _secret("new password")
    if _secret("new password again") != new:
        fail("the new passwords differ")
    engine = make_engine(db)
    try:
        with engine.begin() as conn:
            users.change_password(
                conn,
                _user_id(conn, username),
                current,
                new,
                policy=rules.passwords,
                source_address=SOURCE,
            )
    except SecurityLayerError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo("password changed")


@app.command("enrol-totp")
def enrol_totp_command(
    username: str = typer.Argument(...),
    db: str = DB,
    profile: str = PROFILE,
) -> None:
    """Enrol one's TOTP second factor (needs METRA_MASTER_KEY); prints the otpauth URI once."""
    rules = _profile(profile)
    password = _secret(f"password for {username}")
    engine = make_engine(db)
    try:
        box = SecretBox.from_env()
        with engine.connect() as conn:
            with conn.begin():
                result = login.login(
                    conn, username, password, policy=rules.passwords, source_address=SOURCE
                )
            if result.must_change_password:
                fail("change the password first (metra users passwd)")
            with conn.begin():
                secret = users.enrol_totp(conn, result.user_id, box)
    except SecurityLayerError as exc:
        fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(
        f"add to the authenticator app (shown only now): {totp.provisioning_uri(secret, username)}"
    )
