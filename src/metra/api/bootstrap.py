"""The first run of a server: no default credentials exist, so an empty system gets its first
administrator with a one-time secret (generated and shown once, or given by the operator in
``METRA_BOOTSTRAP_SECRET``), which must be changed at the first log-in (SEC-5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from metra.security import users
from metra.security.schema import user_account

BOOTSTRAP_ENV = "METRA_BOOTSTRAP_SECRET"


@dataclass(frozen=True)
class FirstRun:
    """What `ensure_administrator` did: `secret` is set only when it must be shown now."""

    created: bool
    username: str
    secret: str | None = None


def ensure_administrator(
    engine: Engine, username: str = "admin", env: Mapping[str, str] | None = None
) -> FirstRun:
    """Create the first administrator when no account exists; otherwise do nothing."""
    environ = os.environ if env is None else env
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(user_account)).scalar_one():
            return FirstRun(False, username)
        given = environ.get(BOOTSTRAP_ENV) or None
        _, secret = users.bootstrap(conn, username, secret=given, source_address="metra serve")
    return FirstRun(True, username, None if given else secret)
