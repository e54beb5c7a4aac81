"""The head-end's entries in the audit trail (STO-5): every action on a meter, who and when.

One helper so every module writes the same shape: actor, action name, the meter as target and
details free of key material.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from metra.store import audit

ACTOR = "head-end"


def record(
    conn: Connection,
    action: str,
    *,
    at: datetime,
    meter_id: UUID | None = None,
    details: dict[str, Any] | None = None,
    actor: str = ACTOR,
) -> int:
    """Append one audit entry about a meter (or the head-end itself); returns its sequence."""
    return audit.append(
        conn,
        at=at,
        actor=actor,
        action=action,
        target_kind="meter" if meter_id is not None else "head-end",
        target_id=str(meter_id) if meter_id is not None else None,
        details=details,
    )
