"""What the console keeps for the life of the app: the API's shared context (engine, profile,
limits, jobs), its own settings and the page renderer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from metra.api.context import ApiContext
from metra.console.templating import Pages

SECURE_ENV = "METRA_COOKIE_SECURE"


@dataclass(frozen=True)
class ConsoleSettings:
    """`secure_cookie`: the cookies' Secure flag; None sets it when the request came over HTTPS
    (behind a TLS-terminating proxy that does not pass the scheme, force it with True)."""

    secure_cookie: bool | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleSettings:
        """``METRA_COOKIE_SECURE=1`` / ``0`` forces the flag; unset or ``auto``: by scheme."""
        value = (os.environ if env is None else env).get(SECURE_ENV, "auto").strip().lower()
        if value in ("1", "true", "yes", "on"):
            return cls(True)
        if value in ("0", "false", "no", "off"):
            return cls(False)
        if value in ("", "auto"):
            return cls(None)
        raise ValueError(f"{SECURE_ENV} must be 1, 0 or auto, not {value!r}")


@dataclass
class Console:
    """The console's state, at ``app.state.console``."""

    ctx: ApiContext
    settings: ConsoleSettings
    pages: Pages
