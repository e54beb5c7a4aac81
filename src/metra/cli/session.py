"""Log in as a user for a CLI action: secrets from the terminal, password then TOTP, a principal.

Commands that change data or meters act as a named user (``--as`` / ``--user``) so that every
action is attributed in the audit trail. Secrets never come from the command line (they would
land in shell history and the process list): they come from a hidden prompt, or one per line on
standard input when it is not a terminal (scripts and tests). The source address recorded with
the log-in is the caller's: each command family keeps the one it has always recorded.
"""

from __future__ import annotations

import getpass
import sys

import typer
from sqlalchemy import Connection

from metra.profiles import Profile
from metra.security import login, users
from metra.security.errors import AuthenticationFailed, SecurityLayerError
from metra.security.roles import Permission, Principal, require
from metra.security.sealing import SecretBox

from .common import fail

ACTOR = typer.Option(..., "--as", help="The user acting (logs in first).")
CLI_SOURCE = "cli"
"""The source recorded by the account, export and VEE commands; the command and prepayment
commands record the loopback address instead, which the controlled-zone check of breaker and
firmware commands needs (an address, not a label)."""


def read_secret(prompt: str) -> str:
    """A secret from a hidden prompt, or the next line of stdin when it is not a terminal."""
    if sys.stdin.isatty():
        return getpass.getpass(f"{prompt}: ")
    line = sys.stdin.readline()
    if not line:
        fail(f"{prompt}: nothing on standard input")
    return line.rstrip("\r\n")


def act_as(conn: Connection, username: str, profile: Profile, source: str) -> Principal:
    """Log ``username`` in (password, then a TOTP code when enrolled) and return the principal.

    Runs in the caller's transaction, so the caller decides how a refusal is reported; an
    account still restricted (first password or TOTP enrolment pending) fails here, because a
    restricted session may do nothing but fix that.
    """
    password = read_secret(f"password for {username}")
    code: str | None = None
    box: SecretBox | None = None
    user = users.find(conn, username)
    if user is not None and user.totp_enrolled:
        box = SecretBox.from_env()
        code = read_secret("TOTP code")
    result = login.login(
        conn,
        username,
        password,
        policy=profile.passwords,
        source_address=source,
        totp_code=code,
        box=box,
    )
    if result.restricted:
        fail(f"{username} must first change the password and enrol TOTP")
    return login.authenticate(conn, result.token)


def act_as_kept(conn: Connection, username: str, profile: Profile, source: str) -> Principal:
    """`act_as` in a transaction of its own that is committed even when the log-in is refused.

    A refused log-in writes its attempt and security event; rolling them back with the refusal
    would let a script guess passwords from the command line without ever being locked out
    (SEC-5). Anything else that goes wrong rolls back.
    """
    transaction = conn.begin()
    try:
        principal = act_as(conn, username, profile, source)
    except AuthenticationFailed:
        transaction.commit()
        raise
    except BaseException:
        transaction.rollback()
        raise
    transaction.commit()
    return principal


def log_in(conn: Connection, username: str, profile: Profile, source: str) -> Principal:
    """`act_as_kept`, a refusal reported as ``log-in refused: ...``; the action that follows
    starts a transaction of its own."""
    try:
        return act_as_kept(conn, username, profile, source)
    except SecurityLayerError as exc:
        fail(f"log-in refused: {exc}")


def act_with(
    conn: Connection, username: str, profile: Profile, permission: Permission, refused: str
) -> Principal:
    """Log ``username`` in (refusals kept, as `act_as_kept`) and require ``permission``; any
    refusal ends the command with ``<username> may not <refused>: <why>``."""
    try:
        principal = act_as_kept(conn, username, profile, CLI_SOURCE)
        require(principal, permission)
    except SecurityLayerError as exc:
        fail(f"{username} may not {refused}: {exc}")
    return principal
