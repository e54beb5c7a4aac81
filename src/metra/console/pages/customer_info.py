"""The consumer's "Your meter and your data" page (ACC-7, S1 19): what the meter is and can do,
which services it offers and how the customer's personal data are processed (GDPR art. 13).

Only the caller's own points are shown (`consumer.own_points`, the same scope rules as the
consumption pages); the releases listed are the audit trail's third-party releases (ACC-6) whose
subject is one of those meters or points, so the customer sees who received their data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection, select

from metra.api.permissions import Grant
from metra.console.access import Need, Viewer, console, signed_in
from metra.console.pages.common import render, router
from metra.console.pages.consumer import own_points
from metra.prepay import accounts
from metra.profiles.model import Profile
from metra.security.roles import Permission
from metra.store.masterdata import Entity, as_of
from metra.store.schema import audit_record, command

P = Permission
pages = router()

RELEASES_SHOWN = 200
"""The newest releases listed; older ones stay in the audit trail."""


def _han_open(conn: Connection, meter_id: str, profile: Profile) -> bool:
    """The HAN port's state: the last completed open/close command, else the profile default."""
    c = command.c
    last = conn.execute(
        select(c.kind)
        .where(
            c.meter_id == UUID(meter_id), c.kind.in_(("han_open", "han_close")), c.status == "done"
        )
        .order_by(c.updated_at.desc())
        .limit(1)
    ).scalar()
    return profile.han.open_by_default if last is None else last == "han_open"


def _meter(conn: Connection, meter_id: str, profile: Profile, on: date) -> dict[str, Any]:
    found = as_of(conn, Entity.METER, UUID(meter_id), on)
    a = {} if found is None else found.attributes
    tariff = next(t for t in profile.billing.tariffs if t.name == profile.billing.default_tariff)
    return {
        "id": meter_id,
        "serial": a.get("serial", meter_id),
        "manufacturer": a.get("manufacturer") or "",
        "model": a.get("model") or "",
        "firmware": a.get("firmware") or "",
        "installed": a.get("commissioned_on"),
        "interval": profile.metering.interval_minutes,
        "zones": tariff.zones if a.get("tou_capable") is not False else tariff.zones[:1],
        "disconnect": "disconnect" not in profile.commands.disabled_kinds,
        "han_open": _han_open(conn, meter_id, profile),
        "han_encrypted": profile.han.encrypted,
    }


def releases(conn: Connection, subjects: set[str]) -> list[dict[str, Any]]:
    """Third-party releases (ACC-6) of data about `subjects`, newest first."""
    r = audit_record.c
    rows = conn.execute(
        select(r.at, r.actor, r.action, r.details)
        .where(r.action.startswith("export."))
        .order_by(r.seq.desc())
    )
    out = []
    for at, actor, action, details in rows:
        after = details.get("after") if isinstance(details, dict) else None
        if isinstance(after, dict) and after.get("subject") in subjects:
            out.append({"at": at, "recipient": actor, "what": action.rsplit(".", 1)[-1]})
            if len(out) == RELEASES_SHOWN:
                break
    return out


@pages.get("/my/info")
def my_info(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ)),
) -> Response:
    """The caller's meters, the services and the processing of their personal data."""
    app = console(request).ctx
    profile = app.profile
    on = datetime.now(UTC).date()
    with app.engine.connect() as conn:
        points = own_points(conn, grant, on)
        subjects: set[str] = set()
        for point in points:
            subjects.add(point["id"])
            account = accounts.open_account_of(conn, UUID(point["id"]))
            point["prepay"] = account.unit if account is not None else None
            point["meters"] = [_meter(conn, m["id"], profile, on) for m in point["meters"]]
            subjects.update(m["id"] for m in point["meters"])
        released = releases(conn, subjects)
    return render(
        request,
        who,
        "my_info.html",
        points=points,
        releases=released,
        retention=profile.retention,
        contact=profile.operator.contact,
        prepay_allowed=profile.prepayment.allowed,
    )
