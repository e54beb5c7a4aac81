"""``metra users``: bootstrap the first administrator, add accounts, grant and revoke roles,
change a password.

Secrets are never taken from the command line (they would land in shell history and the process
list): passwords come from a hidden prompt, or one per line on standard input when it is not a
terminal; the bootstrap secret may come from ``METRA_BOOTSTRAP_SECRET``. Commands that change
accounts act as a named administrator who logs in first (``--as``), TOTP included when the
profile requires it, so every change is attributed in the audit trail.
"""

from __future__ import annotations

import os
from uuid import UUID

import typer
from sqlalchemy import Connection

from metra.security import login, totp, users
from metra.security.errors import SecurityLayerError
from metra.security.roles import Role
from metra.security.sealing import SecretBox
from metra.store import make_engine

from .common import DB, PROFILE, fail, profile_or_fail
from .session import CLI_SOURCE, log_in, read_secret

app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)

BOOTSTRAP_ENV = "METRA_BOOTSTRAP_SECRET"
ACTOR = typer.Option(..., "--as", help="The administrator carrying out the change.")
SOURCE = CLI_SOURCE


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


@app.command("add")
def add_command(
    username: str = typer.Argument(..., help="Name of the new account."),
    db: str = DB,
    profile: str = PROFILE,
    actor: str = ACTOR,
    machine: bool = typer.Option(False, "--machine", help="A machine client (tokens only)."),
) -> None:
    """Create an account with no role; a person's initial password is read after the actor's."""
    rules = profile_or_fail(profile)
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            admin = log_in(conn, actor, rules, SOURCE)
            initial = None if machine else read_secret(f"initial password for {username}")
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
    rules = profile_or_fail(profile)
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            admin = log_in(conn, actor, rules, SOURCE)
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
    rules = profile_or_fail(profile)
    current = read_secret("current password")
    new = read_secret("new password")
    if read_secret("new password again") != new:
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
    rules = profile_or_fail(profile)
    password = read_secret(f"password for {username}")
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
