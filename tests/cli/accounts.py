"""Accounts the CLI tests log in as: ``root`` (administrator with TOTP) and ``olga`` (operator,
reads only), so a test can show one user allowed and the other refused."""

from __future__ import annotations

from sqlalchemy import Connection

from metra.profiles.model import PasswordPolicy
from metra.security import users
from metra.security.roles import Role
from metra.security.sealing import SecretBox

ROOT_PASSWORD = "Strong-pass-12"


def root_and_reader(conn: Connection, policy: PasswordPolicy, master_key: str) -> bytes:
    """Create both accounts in the caller's transaction; returns root's TOTP seed (sealed with
    ``master_key``, the hex METRA_MASTER_KEY the CLI runs with)."""
    root, secret = users.bootstrap(conn, "root")
    users.change_password(conn, root, secret, ROOT_PASSWORD, policy=policy)
    key = users.enrol_totp(conn, root, SecretBox(bytes.fromhex(master_key)))
    admin = users.principal(conn, root)
    olga = users.create(conn, admin, "olga", policy=policy, initial_password="Reader-pass-123")
    users.change_password(conn, olga, "Reader-pass-123", "Reader-pass-456", policy=policy)
    users.grant(conn, admin, olga, Role.OPERATOR)
    return key
