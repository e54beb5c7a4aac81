"""Every export is written to the audit trail: who, for whom, what period, which points, which
format, and the file's SHA-256, so a release of data to a third party can be proven later (ACC-6).

The MDM may not import the security layer, so the entry is appended through `metra.store.audit`
without a hash (pending); the face that ran the export seals it into the hash chain in the same
transaction (`metra.security.audit.seal`), as the head-end's entries are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from metra.mdm.exports.selection import Period, Selection
from metra.store import audit

INTERNAL = "internal"


@dataclass(frozen=True)
class Release:
    """What was exported, by whom, for whom."""

    actor: str
    recipient: str | None  # a retailer, consumer or integration; None for internal use
    kind: str  # readings / events / wholesale
    fmt: str  # csv / txt / xml / cim
    source: str  # served / raw / "" for events
    selection: Selection
    period: Period
    zone: str
    rows: int
    sha256: str
    file_name: str
    points: dict[str, str | None]  # meter serial -> metering point id on the first day


def record_release(conn: Connection, release: Release, *, at: datetime | None = None) -> int:
    """Append the `export.<kind>` entry (target: the recipient) and return its sequence number."""
    sel = release.selection
    return audit.append(
        conn,
        at=(at or datetime.now(UTC)).astimezone(UTC),
        actor=release.actor,
        action=f"export.{release.kind}",
        target_kind="export",
        target_id=release.recipient or INTERNAL,
        details={
            "third_party": release.recipient is not None,
            "format": release.fmt,
            "source": release.source,
            "selection": {"kind": sel.kind, "label": sel.label},
            "period": {
                "first": release.period.first.isoformat(),
                "last": release.period.last.isoformat(),
            },
            "time_zone": release.zone,
            "meters": [m.serial for m in sel.meters],
            "metering_points": release.points,
            "rows": release.rows,
            "sha256": release.sha256,
            "file": release.file_name,
        },
    )
