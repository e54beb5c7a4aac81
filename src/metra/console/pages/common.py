"""What every page module shares: its router, rendering with the viewer, redirects, and reading
form fields and query values with bounds (a bad value is a typed, translated message)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from metra.console.access import PREFIX, ConsoleRoute, PageNotFound, Viewer, console, navigation
from metra.console.i18n import N_

NOTICES = {
    "logged-out": N_("You have logged out."),
    "password-changed": N_("Your password has been changed. Log in with the new password."),
    "password-updated": N_("Your password has been changed."),
    "totp-enrolled": N_("Two-factor authentication is set up. Log in with a code."),
    "edited": N_("The value was changed and the edit was recorded in the audit trail."),
    "accepted": N_("The finding was accepted and the decision was recorded in the audit trail."),
    "estimated": N_("The intervals were estimated and the edit was recorded in the audit trail."),
    "acknowledged": N_("The alarm was acknowledged."),
    "user-created": N_("The account was created."),
    "role-granted": N_("The role was granted."),
    "role-revoked": N_("The role was revoked."),
    "incident-opened": N_("The incident was registered."),
    "incident-closed": N_("The incident was closed."),
    "submitted": N_("The command was accepted and queued for the meters."),
    "awaiting-approval": N_(
        "The request waits in the approvals inbox: a second person must approve it."
    ),
    "replayed": N_("This form was sent before; nothing was done twice."),
    "approved": N_("You approved the request; its commands are queued."),
    "approval-recorded": N_("Your approval was recorded; the request needs another approval."),
    "rejected": N_("The request was rejected and its commands cancelled."),
    "cancelled": N_("The commands not yet sent were cancelled."),
    "topped-up": N_("The payment was recorded in the ledger and the audit trail."),
}
"""Messages a redirect may ask the next page to show (by key: no text travels in the URL)."""


class FormError(ValueError):
    """A submitted value the console refuses; the message is marked for translation."""


def router() -> APIRouter:
    """A router of console pages (not part of the API's OpenAPI description)."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def render(
    request: Request, who: Viewer, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page in the viewer's language, with the notice asked for by ``?done=`` if any."""
    done = request.query_params.get("done")
    notice = NOTICES.get(done) if done else None
    values = {
        "who": who,
        "path": request.url.path,
        "query": request.url.query,
        "notice": notice,
        "nav": navigation(who),
        "prefix": PREFIX,
        **context,
    }
    return console(request).pages.render(who.lang, template, values, status=status)


def redirect(path: str, done: str | None = None) -> RedirectResponse:
    """See other: after a form, the browser fetches `path` (with a notice key)."""
    if done is not None:
        assert done in NOTICES
        path += ("&" if "?" in path else "?") + f"done={done}"
    return RedirectResponse(path, status_code=303)


def text(form: FormData, name: str, *, max_length: int = 256, required: bool = True) -> str:
    """A text field of the form, stripped; `FormError` when missing or too long."""
    value = form.get(name)
    if not isinstance(value, str) or (required and not value.strip()):
        if required:
            raise FormError(N_("Please fill in every required field."))
        return ""
    if len(value) > max_length:
        raise FormError(N_("A value is too long."))
    return value.strip()


def secret(form: FormData, name: str) -> str:
    """A password field, unstripped (spaces may be part of it)."""
    value = form.get(name)
    if not isinstance(value, str) or not value:
        raise FormError(N_("Please fill in every required field."))
    if len(value) > 256:
        raise FormError(N_("A value is too long."))
    return value


def number(form: FormData, name: str) -> float:
    """A finite decimal number (a comma is read as the decimal separator too)."""
    raw = text(form, name, max_length=32).replace(",", ".").replace(" ", "")
    try:
        value = float(raw)
    except ValueError:
        raise FormError(N_("Please enter a number.")) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise FormError(N_("Please enter a number."))
    return value


def day_param(value: str | None, default: date) -> date:
    """An ISO date from the query, or `default` when absent or malformed."""
    if not value:
        return default
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return default


def span_days(first: date, days: int) -> list[date]:
    """`days` consecutive days from `first`."""
    return [first + timedelta(days=k) for k in range(days)]


def uuid_or_404(value: str) -> UUID:
    """An id from the path; anything else is a page that does not exist (never a 422)."""
    try:
        return UUID(value)
    except ValueError:
        raise PageNotFound from None
