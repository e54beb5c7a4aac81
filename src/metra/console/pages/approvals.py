"""The approvals inbox: requests that wait for a second person (SEC-4, SEC-6).

A bulk disconnection (more points than the profile's `max_points_per_command`) and an emergency
request wait here until enough people other than the requester approve them. Approving goes
through `metra.security.command_requests.approve`, which refuses the requester (and records the
attempt as a security event), someone without the kind's permission, and breaker or firmware
approvals from outside the controlled zone. Rejecting cancels the request's commands with a
reason (`cancel`, audited). The inbox opens to holders of any command permission; the engine
checks the one each request's kind needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from metra.api.auth import source_address
from metra.api.permissions import Grant
from metra.console import command_forms, command_views
from metra.console.access import (
    ANY_COMMAND,
    PREFIX,
    Viewer,
    console,
    posted,
    signed_in,
)
from metra.console.pages.commands import cancel_request, refusal
from metra.console.pages.common import FormError, redirect, render, router, uuid_or_404
from metra.security import command_requests
from metra.security.roles import Permission
from metra.security.safeguards import KIND_PERMISSIONS, SafeguardRefused
from metra.store import commands
from metra.store.commands import RequestStatus

P = Permission
pages = router()
INBOX = PREFIX + "/approvals"


def _inbox(request: Request, who: Viewer, *, status: int = 200, **context: Any) -> Response:
    app = console(request)
    address = source_address(request)
    with app.ctx.engine.connect() as conn:
        waiting = commands.requests_awaiting(conn, 200)
        rows = [command_views.request_row(conn, r.id) for r in waiting]
        meters = {
            r.id: command_views.meter_states(conn, r)[:20] for r in waiting
        }  # a glimpse; the request's page lists them all
    return render(
        request,
        who,
        "approvals.html",
        status=status,
        rows=rows,
        meters=meters,
        labels=command_forms.KIND_LABELS,
        may={r.id: who.can(KIND_PERMISSIONS[r.kind]) for r in waiting},
        in_zone=app.ctx.policy.in_zone(address),
        address=address,
        can_list=who.can(P.EVENTS_READ, all_scope=True),
        **context,
    )


@pages.get("/approvals")
def inbox(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(ANY_COMMAND),
) -> Response:
    """Requests awaiting approval, oldest first, with approve and reject forms."""
    return _inbox(request, who)


@pages.post("/approvals/{request_id}/approve")
def approve(
    request_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(ANY_COMMAND),
    form: FormData = Depends(posted),
) -> Response:
    """Approve as the second person; the requester's own approval is refused and recorded."""
    key = uuid_or_404(request_id)
    app = console(request)
    refused: SafeguardRefused | None = None
    with app.ctx.engine.begin() as conn:
        try:
            done = command_requests.approve(
                conn,
                grant.caller.principal,
                app.ctx.policy,
                key,
                source_address=source_address(request),
                now=datetime.now(UTC),
            )
        except SafeguardRefused as exc:
            refused = exc  # committed: the refusal's security event stays
    if refused is not None:
        return _inbox(
            request,
            who,
            status=403,
            error=refusal(refused),
            detail=str(refused),
            refused_rule=refused.rule,
        )
    released = done.status == RequestStatus.APPROVED.value
    return redirect(INBOX, "approved" if released else "approval-recorded")


@pages.post("/approvals/{request_id}/reject")
def reject(
    request_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(ANY_COMMAND),
    form: FormData = Depends(posted),
) -> Response:
    """Reject with a reason: the request's commands are cancelled (the requester may withdraw
    their own request the same way: stopping is never dangerous)."""
    key = uuid_or_404(request_id)
    try:
        cancel_request(request, grant, form, key)
    except FormError as exc:
        return _inbox(request, who, status=400, error=str(exc))
    return redirect(INBOX, "rejected")
