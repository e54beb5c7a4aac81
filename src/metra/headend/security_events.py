"""Security events the head-end raises about meters (SEC-3, SEC-8).

Two situations are suspicious enough to record as they happen: a meter that fails
authentication (wrong keys, refused association, a push that does not verify), and one system
title seen from two addresses at the same time (a cloned meter or stolen keys: S3 B.9.2 asks
for that meter's keys to be revoked). Events go to the store's security-event table; details
name the meter and the address, never a key.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime
from uuid import UUID

from sqlalchemy import Connection

from metra.store.events import SecurityCategory, Severity, record_security_event

ACTOR = "head-end"


def authentication_failed(
    conn: Connection,
    *,
    at: datetime,
    address: str | None,
    reason: str,
    meter_id: UUID | None = None,
    system_title: bytes | None = None,
    what: str = "session",
) -> int:
    """Record a meter (or a would-be meter) that could not be verified; returns the event id."""
    details: dict[str, object] = {"what": what, "reason": reason[:200]}
    if meter_id is not None:
        details["meter_id"] = str(meter_id)
    if system_title is not None:
        details["system_title"] = system_title.hex()
    return record_security_event(
        conn,
        occurred_at=at,
        category=SecurityCategory.ATTEMPTED_COMPROMISE,
        severity=Severity.ALARM,
        description=f"meter authentication failed ({what})",
        actor=ACTOR,
        source_address=address,
        details=details,
    )


def title_seen_twice(
    conn: Connection, *, at: datetime, system_title: bytes, addresses: list[str]
) -> int:
    """Record one system title active from several addresses at once; returns the event id."""
    return record_security_event(
        conn,
        occurred_at=at,
        category=SecurityCategory.COMPROMISE,
        severity=Severity.ALARM,
        description="one system title seen from two addresses at once",
        actor=ACTOR,
        source_address=addresses[-1],
        details={"system_title": system_title.hex(), "addresses": sorted(addresses)},
    )


class TitleTracker:
    """Which addresses each system title is talking from right now.

    Sessions and push connections `claim` a title when it identifies itself and `release` it
    when they end. A claim from a second address while the first still holds it returns the
    addresses involved so the caller can raise `title_seen_twice`.
    """

    def __init__(self) -> None:
        self._active: defaultdict[bytes, dict[str, int]] = defaultdict(dict)
        self._lock = threading.Lock()

    def claim(self, system_title: bytes, address: str) -> list[str] | None:
        """Note `address` as using `system_title`; the conflicting addresses, or None."""
        with self._lock:
            holders = self._active[bytes(system_title)]
            holders[address] = holders.get(address, 0) + 1
            return sorted(holders) if len(holders) > 1 else None

    def release(self, system_title: bytes, address: str) -> None:
        """The session from `address` ended."""
        with self._lock:
            holders = self._active.get(bytes(system_title))
            if holders is None or address not in holders:
                return
            holders[address] -= 1
            if holders[address] <= 0:
                del holders[address]
            if not holders:
                del self._active[bytes(system_title)]
