"""The VEE worklist: findings of the validation runs without a decision, and the three
decisions, each with a reason and audited (`metra.console.worklist`).

Listing findings of all meters needs `readings:read` at scope all (as ``/vee/findings`` without a
meter); a decision changes served data or records a judgement on them, so it needs `data:edit`
(as the API's manual edit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from metra.api import scoping
from metra.api.auth import source_address
from metra.api.permissions import Grant
from metra.console import worklist
from metra.console.access import PREFIX, Need, Viewer, console, posted, signed_in
from metra.console.i18n import N_
from metra.console.pages.common import FormError, day_param, number, redirect, render, router, text
from metra.mdm.vee_decisions import AlreadyDecided
from metra.mdm.versions import EditRefused
from metra.security.roles import Permission
from metra.store.masterdata import Entity, as_of

P = Permission
pages = router()
REFUSED = N_("The decision was refused: the finding's day has no validated data to change.")
DECIDED = N_("This finding was decided already.")


def _serials(request: Request, meters: set[UUID]) -> dict[UUID, str]:
    today = datetime.now(UTC).date()
    out = {}
    with console(request).ctx.engine.connect() as conn:
        for meter in meters:
            found = as_of(conn, Entity.METER, meter, today)
            out[meter] = found.attributes["serial"] if found else str(meter)
    return out


@pages.get("/vee")
def worklist_page(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.READINGS_READ, all_scope=True)),
) -> Response:
    """Open findings starting within the chosen days (default: the last 7)."""
    today = datetime.now(UTC).date()
    days_text = request.query_params.get("days", "7")
    days = min(max(int(days_text), 1), 62) if days_text.isdigit() else 7
    first = day_param(request.query_params.get("start"), today - timedelta(days=days))
    start = datetime.combine(first, datetime.min.time(), UTC)
    with console(request).ctx.engine.connect() as conn:
        found = worklist.open_findings(conn, start, start + timedelta(days=days))
    return render(
        request,
        who,
        "vee.html",
        findings=found,
        serials=_serials(request, {f.meter_id for f in found}),
        first=first,
        days=days,
        can_edit=who.can(P.DATA_EDIT),
    )


@pages.post("/vee/{finding_id}/{decision}")
def decide(
    finding_id: int,
    decision: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.DATA_EDIT)),
    form: FormData = Depends(posted),
) -> Response:
    """Accept, estimate or edit (with a value) one finding, with a reason."""
    if decision not in ("accept", "estimate", "edit"):
        return redirect(PREFIX + "/vee")
    app = console(request)
    actor, source, now = grant.caller.username, source_address(request), datetime.now(UTC)
    try:
        reason = text(form, "reason", max_length=1000)
        value = number(form, "value") if decision == "edit" else 0.0
        with app.ctx.engine.begin() as conn:
            finding = worklist.get(conn, finding_id)
            day = finding.first_at.date()
            scoping.check_meter(conn, grant, finding.meter_id, day, finding.last_at.date())
            if decision == "accept":
                worklist.accept(conn, finding, actor=actor, reason=reason, source=source, at=now)
            elif decision == "estimate":
                worklist.estimate(conn, finding, actor=actor, reason=reason, source=source, at=now)
            else:
                worklist.edit(
                    conn, finding, value, actor=actor, reason=reason, source=source, at=now
                )
    except FormError as exc:
        return render(
            request, who, "message.html", status=400, error=str(exc), back=PREFIX + "/vee"
        )
    except EditRefused:
        return render(request, who, "message.html", status=400, error=REFUSED, back=PREFIX + "/vee")
    except AlreadyDecided:
        return render(request, who, "message.html", status=409, error=DECIDED, back=PREFIX + "/vee")
    done = {"accept": "accepted", "estimate": "estimated", "edit": "edited"}[decision]
    query = request.url.query
    return redirect(PREFIX + "/vee" + (f"?{query}" if query else ""), done)
