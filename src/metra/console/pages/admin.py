"""Administration: users and roles (`users:read`, changes `users:manage`), the audit trail's
search and verification (`audit:read`), and the incident register (`incidents:manage`): the same
permissions and the same security-layer calls as the API's routers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.datastructures import FormData

from metra.api.auth import source_address
from metra.api.paging import utc
from metra.api.permissions import Grant, refuse
from metra.console.access import PREFIX, Need, PageNotFound, Viewer, console, posted, signed_in
from metra.console.i18n import N_
from metra.console.pages.common import FormError, redirect, render, router, secret, text
from metra.security import audit, incidents, users
from metra.security.errors import AccessDenied, PasswordPolicyError, UserError
from metra.security.roles import ROLE_PERMISSIONS, Permission, Role
from metra.security.schema import user_account
from metra.store.events import SecurityCategory, Severity
from metra.store.schema import audit_record

P = Permission
pages = router()
USER_ERRORS = {
    "exists": N_("An account with that name exists already."),
    "policy": N_("The initial password does not meet the policy."),
    "self": N_("A role cannot be granted to or revoked from oneself."),
    "name": N_("User names may hold letters, digits and . _ @ - only."),
}


def _accounts(request: Request) -> list[dict[str, Any]]:
    with console(request).ctx.engine.connect() as conn:
        names = conn.execute(
            select(user_account.c.username).order_by(user_account.c.username).limit(1000)
        ).scalars()
        out = []
        for name in list(names):
            user = users.find(conn, name)
            assert user is not None
            out.append({"user": user, "roles": sorted(users.roles_of(conn, user.id))})
    return out


@pages.get("/users")
def user_list(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.USERS_READ)),
    error: str | None = None,
    status: int = 200,
) -> Response:
    """Accounts with their roles, and the role catalogue."""
    return render(
        request,
        who,
        "users.html",
        status=status,
        accounts=_accounts(request),
        roles=list(Role),
        catalogue={r: sorted(p.value for p in perms) for r, perms in ROLE_PERMISSIONS.items()},
        can_manage=who.can(P.USERS_MANAGE),
        error=error,
    )


def _user_error(request: Request, who: Viewer, grant: Grant, key: str) -> Response:
    return user_list(request, who, grant, USER_ERRORS[key], 400)


@pages.post("/users")
def create_user(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.USERS_MANAGE)),
    form: FormData = Depends(posted),
) -> Response:
    """Create an account with no role (least privilege) and an initial password."""
    app = console(request)
    try:
        username = text(form, "username", max_length=64)
        initial = secret(form, "initial")
        party_text = text(form, "party", max_length=36, required=False)
        party = UUID(party_text) if party_text else None
    except (FormError, ValueError):
        return _user_error(request, who, grant, "name")
    if not all(c.isalnum() or c in "._@-" for c in username):
        return _user_error(request, who, grant, "name")
    try:
        with app.ctx.engine.begin() as conn:
            users.create(
                conn,
                grant.caller.principal,
                username,
                policy=app.ctx.profile.passwords,
                initial_password=initial,
                party_id=party,
                source_address=source_address(request),
            )
    except PasswordPolicyError:
        return _user_error(request, who, grant, "policy")
    except UserError:
        return _user_error(request, who, grant, "exists")
    return redirect(PREFIX + "/users", "user-created")


@pages.post("/users/{username}/roles")
def change_role(
    username: str,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.USERS_MANAGE)),
    form: FormData = Depends(posted),
) -> Response:
    """Grant or revoke a role (never to or from oneself, SEC-4)."""
    app = console(request)
    try:
        role = Role(text(form, "role", max_length=32))
    except (FormError, ValueError):
        raise PageNotFound from None
    revoke = form.get("action") == "revoke"
    try:
        with app.ctx.engine.begin() as conn:
            user = users.find(conn, username)
            if user is None:
                raise PageNotFound
            change = users.revoke if revoke else users.grant
            change(
                conn, grant.caller.principal, user.id, role, source_address=source_address(request)
            )
    except AccessDenied as exc:
        refuse(app.ctx, request, exc)  # a security event, as the API's refusal
        return user_list(request, who, grant, USER_ERRORS["self"], 403)
    except UserError:
        return _user_error(request, who, grant, "self")
    return redirect(PREFIX + "/users", "role-revoked" if revoke else "role-granted")


def _moment(text_value: str | None) -> datetime | None:
    if not text_value:
        return None
    try:
        return utc(datetime.fromisoformat(text_value[:32]))
    except ValueError:
        return None


@pages.get("/audit")
def audit_page(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.AUDIT_READ)),
) -> Response:
    """Search the trail (actor, action or prefix*, target, time) and verify its chain (STO-5)."""
    q = request.query_params
    filters = {k: q.get(k, "")[:64] for k in ("actor", "action", "target", "start", "end")}
    after = int(q["after"]) if q.get("after", "").isdigit() else 0
    t = audit_record.c
    where = [t.seq > after]
    if filters["actor"]:
        where.append(t.actor == filters["actor"])
    if filters["action"]:
        action = filters["action"]
        where.append(
            t.action.startswith(action[:-1], autoescape=True)
            if action.endswith("*")
            else t.action == action
        )
    if filters["target"]:
        where.append(t.target_id == filters["target"])
    start, end = _moment(filters["start"]), _moment(filters["end"])
    if start is not None:
        where.append(t.at >= start)
    if end is not None:
        where.append(t.at < end)
    with console(request).ctx.engine.connect() as conn:
        rows = [
            r._mapping
            for r in conn.execute(select(audit_record).where(*where).order_by(t.seq).limit(100))
        ]
        verification = audit.verify(conn) if q.get("verify") == "1" else None
    return render(
        request,
        who,
        "audit.html",
        rows=rows,
        filters=filters,
        next_after=rows[-1]["seq"] if len(rows) == 100 else None,
        verification=verification,
    )


@pages.get("/incidents")
def incident_page(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.INCIDENTS_MANAGE)),
) -> Response:
    """The incident register (SEC-9) with forms to open and close incidents."""
    with console(request).ctx.engine.connect() as conn:
        register = incidents.register(conn)
    return render(
        request,
        who,
        "incidents.html",
        register=register,
        categories=list(SecurityCategory),
        severities=list(Severity),
    )


@pages.post("/incidents")
def open_incident(
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.INCIDENTS_MANAGE)),
    form: FormData = Depends(posted),
) -> Response:
    """Register an incident or deviation (audited by the security layer)."""
    try:
        category = SecurityCategory(text(form, "category", max_length=32))
        severity = Severity(text(form, "severity", max_length=16))
        title = text(form, "title", max_length=200)
        description = text(form, "description", max_length=10_000)
    except (FormError, ValueError):
        return render(
            request,
            who,
            "message.html",
            status=400,
            error=N_("Please fill in every required field."),
            back=PREFIX + "/incidents",
        )
    with console(request).ctx.engine.begin() as conn:
        incidents.open_incident(
            conn, grant.caller.principal, category, severity, title, description
        )
    return redirect(PREFIX + "/incidents", "incident-opened")


@pages.post("/incidents/{incident_id}/close")
def close_incident(
    incident_id: int,
    request: Request,
    who: Viewer = Depends(signed_in),
    grant: Grant = Depends(Need(P.INCIDENTS_MANAGE)),
    form: FormData = Depends(posted),
) -> Response:
    """Close an open incident with what was done (the record stays)."""
    try:
        resolution = text(form, "resolution", max_length=10_000)
    except FormError as exc:
        return render(
            request, who, "message.html", status=400, error=str(exc), back=PREFIX + "/incidents"
        )
    if not 0 < incident_id < 2**62:
        raise PageNotFound
    try:
        with console(request).ctx.engine.begin() as conn:
            incidents.close_incident(conn, grant.caller.principal, incident_id, resolution)
    except UserError:
        raise PageNotFound from None
    return redirect(PREFIX + "/incidents", "incident-closed")
