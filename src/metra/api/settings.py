"""What an API process is configured with: the database, the jurisdiction profile and the
engineering limits of this face (rate limits, page sizes). Jurisdiction rules (passwords, lockout,
TOTP roles) come from the profile, never from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from metra.api.context import ApiContext

#: The console (or any other face) mounts itself into the app through such a function.
Mount = Callable[["FastAPI", "ApiContext"], None]


@dataclass(frozen=True)
class ApiSettings:
    """Settings of one API process.

    `rate_per_s` / `burst` bound the calls of one token (or, before authentication, of one source
    address); 0 turns the limit off (benchmarks only). `master_key` opens sealed TOTP secrets and
    the meter key store; without it TOTP log-in and on-demand reads are refused, never faked.
    `mounts` are called with the app and its context once the API's own routes are in place.
    `controlled_zones` are the networks (CIDR) breaker and firmware commands and their approvals
    may come from (SEC-6; none by default, so none is accepted until the installation says so).
    `signing_key` / `signing_cert` name the operator's private key and certificate (PEM files)
    that sign the wholesale report (ACC-4); without them a profile that requires a signed report
    gets none. An encrypted key takes its password from ``METRA_SIGNING_KEY_PASSWORD``.
    """

    db_url: str
    profile: str = "pl"
    rate_per_s: float = 20.0
    burst: int = 60
    max_page: int = 1000
    max_range_days: int = 366
    master_key: str | None = None
    client_system_title: bytes = b"MTRAHES\x01"
    job_ttl_s: float = 3600.0
    controlled_zones: tuple[str, ...] = ()
    signing_key: Path | None = None
    signing_cert: Path | None = None
    mounts: tuple[Mount, ...] = field(default=())

    @classmethod
    def from_env(
        cls, db_url: str, profile: str, env: Mapping[str, str] | None = None, **overrides: object
    ) -> ApiSettings:
        """Settings for `metra serve`: the master key from ``METRA_MASTER_KEY`` and the
        controlled zone from ``METRA_CONTROLLED_ZONES`` (comma-separated networks) and the
        wholesale report's signing key and certificate from ``METRA_SIGNING_KEY`` /
        ``METRA_SIGNING_CERT`` (file paths) when set."""
        environ = os.environ if env is None else env
        key = environ.get("METRA_MASTER_KEY") or None
        zones = tuple(z.strip() for z in environ.get("METRA_CONTROLLED_ZONES", "").split(","))
        key_file = environ.get("METRA_SIGNING_KEY") or None
        cert_file = environ.get("METRA_SIGNING_CERT") or None
        return cls(
            db_url=db_url,
            signing_key=Path(key_file) if key_file else None,
            signing_cert=Path(cert_file) if cert_file else None,
            profile=profile,
            master_key=key,
            controlled_zones=tuple(z for z in zones if z),
            **overrides,  # type: ignore[arg-type]
        )
