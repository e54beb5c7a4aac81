"""Commands to meters: the builder, the list of requests, a request's and a command's pages with
their state history, firmware campaigns, and cancelling what was not sent (CMD-1..CMD-10,
SEC-4, SEC-6, SEC-10).

Every change goes through the engine (`metra.security.command_requests`) with the browser's
address as the source address, so the console applies exactly the safeguards of the command
line and the API: the kind's permission, the two-person rule, the limits per window, the
controlled zone and deactivated functions. A refusal is recorded by the engine as a security
event before it is raised, so the transaction is committed and the page says which rule refused.

The builder and cancelling are open to holders of any command permission (`NeedAny`); the engine
checks the one the kind needs. Reading requests and commands needs `events:read` at scope all,
as ``metra command list`` / ``show``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from metra.api.auth import source_address
from metra.api.permissions import Grant
from metra.console import command_forms, command_views
from metra.console.access import (
    ANY_COMMAND,
    COMMAND_PERMISSIONS,
    PREFIX,
    Need,
    Viewer,
    console,
    posted,
    signed_in,
)
from metra.console.command_forms import DetailedFormError
from metra.console.i18n import N_
from metra.console.pages.common import FormError, redirect, render, router, text, uuid_or_404
from metra.security import command_requests
from metra.security.roles import Permission
from metra.security.safeguards import KIND_PERMISSIONS, SafeguardRefused
from metra.store import commands
from metra.store.commands import RequestStatus, Status

P = Permission
pages = router()
REFUSALS = {
    "permission": N_(
        "You may not submit or approve this kind of command. "
        "The refusal has been recorded as a security event."
    ),
    "zone": N_(
        "Breaker and firmware commands are accepted only from the controlled-zone networks, "
        "and your address is outside them. The refusal has been recorded as a security alarm."
    ),
    "disabled": N_(
        "This function is deactivated in this system (by the profile, the installation or the "
        "meter's configuration). The refusal has been recorded."
    ),
    "user_limit": N_(
        "You would exceed your limit of disconnections within the time window. "
        "The refusal has been recorded as a security alarm."
    ),
    "total_limit": N_(
        "The limit of disconnections for everyone within the time window would be exceeded. "
        "The refusal has been recorded as a security alarm."
    ),
    "emergency_reason": N_("The emergency mode needs a reason."),
    "emergency": N_("The emergency mode applies to disconnections and emergency limits only."),
    "self_approval": N_(
        "You requested this yourself: a second person must approve it. "
        "The attempt has been recorded as a security event."
    ),
    "already_approved": N_("You have approved this request already."),
    "state": N_("This request no longer awaits approval."),
    "request_id": N_("This form was sent before with other content. Reload the page."),
    "prepayment_window": N_("No allowed disconnection time was found."),
}
"""What each safeguard's refusal means, for the person who met it."""
REFUSED = N_("The command was refused.")


def refusal(exc: SafeguardRefused) -> str:
    """The message for a safeguard's refusal (the engine's own text goes along as detail)."""
    return REFUSALS.get(exc.rule, REFUSED)


def _can(who: Viewer, kind: str) -> bool:
    return who.can(KIND_PERMISSIONS[kind])


def _builder(
    request: Request,
    who: Viewer,
    *,
    status: int = 200,
    form: FormData | None = None,
    **context: Any,
) -> Response:
    app = console(request)
    profile = app.ctx.profile
    policy = app.ctx.policy
    address = source_address(request)
    with app.ctx.engine.connect() as conn:
        images = command_forms.images(conn)
    offered = [k for k in command_forms.kinds() if _can(who, k)]
    disabled = set(profile.commands.disabled_kinds) | set(policy.disabled_kinds)
    values = {k: v for k, v in (form or {}).items() if k != "csrf" and isinstance(v, str)}
    return render(
        request,
        who,
        "command_new.html",
        status=status,
        kinds=offered,
        labels=command_forms.KIND_LABELS,
        fields=command_forms.KIND_FIELDS,
        disabled=disabled,
        images=images,
        saps=command_forms.SAPS,
        rules=profile.disconnection,
        address=address,
        in_zone=policy.in_zone(address),
        request_id=str(uuid4()),
        values=values,
        can_list=who.can(P.EVENTS_READ, all_scope=True),
        **context,
    )


@pages.get("/commands/new")
def builder(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(ANY_COMMAND),
) -> Response:
    """The command builder: kind, meters (serials or a substation), time, reason."""
    return _builder(request, who)


@pages.post("/commands/new")
def submit(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(ANY_COMMAND),
    form: FormData = Depends(posted),
) -> Response:
    """Submit through the engine; a refusal is committed (its security event) and shown."""
    app = console(request)
    now = datetime.now(UTC)
    refused: SafeguardRefused | None = None
    try:
        with app.ctx.engine.begin() as conn:
            order = command_forms.order(conn, form, app.ctx.profile, now.date())
            try:
                done = command_requests.submit(
                    conn,
                    grant.caller.principal,
                    app.ctx.profile,
                    app.ctx.policy,
                    order.kind,
                    order.meter_ids,
                    source_address=source_address(request),
                    params=order.params,
                    request_id=order.request_id,
                    reason=order.reason,
                    emergency=order.emergency,
                    execute_at=order.execute_at,
                    now=now,
                )
            except SafeguardRefused as exc:
                refused = exc  # committed with this transaction: the security event stays
    except DetailedFormError as exc:
        return _builder(request, who, status=400, form=form, error=str(exc), detail=exc.detail)
    except FormError as exc:
        return _builder(request, who, status=400, form=form, error=str(exc))
    if refused is not None:
        return _builder(
            request,
            who,
            status=403,
            form=form,
            error=refusal(refused),
            detail=str(refused),
            refused_rule=refused.rule,
        )
    if not done.created:
        notice = "replayed"
    elif done.status == RequestStatus.AWAITING_APPROVAL.value:
        notice = "awaiting-approval"
    else:
        notice = "submitted"
    if who.can(P.EVENTS_READ, all_scope=True):
        return redirect(f"{PREFIX}/requests/{done.request_id}", notice)
    return redirect(PREFIX + "/commands/new", notice)


@pages.get("/commands")
def command_list(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.EVENTS_READ, all_scope=True)),
) -> Response:
    """Requests newest first with the state of their commands (``?kind=``, ``?status=``)."""
    q = request.query_params
    kind = q.get("kind") if q.get("kind") in KIND_PERMISSIONS else None
    wanted = q.get("status")
    status = wanted if wanted in {s.value for s in RequestStatus} else None
    with console(request).ctx.engine.connect() as conn:
        rows = command_views.requests(conn, kind=kind, status=status)
    return render(
        request,
        who,
        "commands.html",
        rows=rows,
        kind=kind,
        request_status=status,
        kinds=command_forms.kinds(),
        labels=command_forms.KIND_LABELS,
        statuses=[s.value for s in RequestStatus],
        can_build=any(who.can(p) for p in COMMAND_PERMISSIONS),
    )


@pages.get("/campaigns")
def campaign_list(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.EVENTS_READ, all_scope=True)),
) -> Response:
    """Firmware campaigns: each firmware request's progress and whether it is paused."""
    with console(request).ctx.engine.connect() as conn:
        rows = command_views.requests(conn, kind=command_views.FIRMWARE)
        campaigns = {row.request.id: command_views.campaign(conn, row.request) for row in rows}
    return render(request, who, "campaigns.html", rows=rows, campaigns=campaigns)


@pages.get("/requests/{request_id}")
def request_page(
    request_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.EVENTS_READ, all_scope=True)),
) -> Response:
    """One request: who asked, from where and why, its approvals, and each meter's command;
    a firmware request's waves."""
    key = uuid_or_404(request_id)
    with console(request).ctx.engine.connect() as conn:
        row = command_views.request_row(conn, key)
        firmware = row.request.kind == command_views.FIRMWARE
        campaign = command_views.campaign(conn, row.request) if firmware else None
        meters = [] if firmware else command_views.meter_states(conn, row.request)
    open_states = {s.value for s in (Status.RECEIVED, Status.APPROVED, Status.QUEUED)}
    cancellable = _can(who, row.request.kind) and any(s in open_states for s in row.states)
    return render(
        request,
        who,
        "request.html",
        row=row,
        meters=meters,
        campaign=campaign,
        labels=command_forms.KIND_LABELS,
        cancellable=cancellable,
    )


@pages.get("/commands/{command_id}")
def command_page(
    command_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.EVENTS_READ, all_scope=True)),
) -> Response:
    """One command to one meter with every state change (time, actor, details)."""
    key = uuid_or_404(command_id)
    with console(request).ctx.engine.connect() as conn:
        cmd = commands.get(conn, key)
        history = commands.history(conn, key)
        request_id = commands.request_of(conn, key)
        serial = command_views.serials(conn, {cmd.meter_id})[cmd.meter_id]
        attempts = commands.attempts(conn, key)
    return render(
        request,
        who,
        "command.html",
        cmd=cmd,
        history=history,
        request_id=request_id,
        serial=serial,
        attempts=attempts,
        labels=command_forms.KIND_LABELS,
    )


def cancel_request(request: Request, grant: Grant, form: FormData, request_id: UUID) -> None:
    """Cancel every unsent command of the request with the form's reason (audited by the
    engine; the kind's permission is checked there)."""
    reason = text(form, "reason", max_length=1000)
    with console(request).ctx.engine.begin() as conn:
        command_requests.cancel(
            conn,
            grant.caller.principal,
            request_id,
            source_address=source_address(request),
            reason=reason,
        )


@pages.post("/requests/{request_id}/cancel")
def cancel(
    request_id: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(ANY_COMMAND),
    form: FormData = Depends(posted),
) -> Response:
    """Stop what was not sent yet (e.g. a paused campaign), with a reason."""
    key = uuid_or_404(request_id)
    back = f"{PREFIX}/requests/{key}"
    try:
        cancel_request(request, grant, form, key)
    except FormError as exc:
        return render(request, who, "message.html", status=400, error=str(exc), back=back)
    if who.can(P.EVENTS_READ, all_scope=True):
        return redirect(back, "cancelled")
    return redirect(PREFIX + "/approvals", "cancelled")
