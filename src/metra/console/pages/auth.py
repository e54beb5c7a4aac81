"""Log-in (password, and a TOTP code where the profile asks for one), log-out, the forced and the
self-service password change, TOTP enrolment, the language switch and the landing page.

All of it goes through `metra.security` exactly as the API's auth router does: a failed log-in is
committed before the answer (it counts towards the lockout and is a security event), and a setup
session is spent by the change it was issued for, so the next log-in is a full one.
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from metra.api.auth import source_address
from metra.console.access import (
    LANG_COOKIE,
    LOGIN_PATH,
    PRE_COOKIE,
    PREFIX,
    Viewer,
    any_session,
    console,
    cookie_secure,
    drop_session,
    posted,
    safe_next,
    set_session,
    signed_in,
    viewer,
)
from metra.console.i18n import LANGUAGES, N_
from metra.console.pages.common import FormError, redirect, render, router, secret, text
from metra.security import login, passwords, totp, users
from metra.security.errors import AccessDenied, AuthenticationFailed, PasswordPolicyError
from metra.security.roles import Permission
from metra.security.schema import user_account

P = Permission
pages = router()

POLICY_RULES = {
    "min_length": N_("The new password is too short for the policy."),
    "letter": N_("The new password must contain a letter."),
    "digit": N_("The new password must contain a digit."),
    "special": N_("The new password must contain a special character."),
    "mixed_case": N_("The new password must mix upper- and lower-case letters."),
    "contains_username": N_("The new password must not contain the user name."),
    "history": N_("The new password was used recently; choose another one."),
    "reuse": N_("The new password was used before; choose another one."),
    "min_age": N_("The password was changed too recently to change it again."),
}


@pages.get("/login")
def login_form(request: Request, who: Viewer = Depends(viewer)) -> Response:
    """The log-in form (public)."""
    if who.caller is not None and who.setup is None:
        return redirect(PREFIX + "/")
    return render(request, who, "login.html", next=safe_next(request.query_params.get("next")))


@pages.post("/login")
def login_submit(
    request: Request, who: Viewer = Depends(viewer), form: FormData = Depends(posted)
) -> Response:
    """Check password (and TOTP code) and open a session (public)."""
    app = console(request)
    target = safe_next(form.get("next") if isinstance(form.get("next"), str) else None)  # type: ignore[arg-type]
    try:
        username = text(form, "username", max_length=64)
        password = secret(form, "password")
        code = text(form, "totp", max_length=10, required=False) or None
    except FormError as exc:
        return render(request, who, "login.html", status=400, error=str(exc), next=target)
    result = None
    # committed even on failure: the attempt must count
    with app.ctx.engine.begin() as conn, contextlib.suppress(AuthenticationFailed):
        result = login.login(
            conn,
            username,
            password,
            policy=app.ctx.profile.passwords,
            source_address=source_address(request),
            totp_code=code,
            box=app.ctx.box,
        )
    if result is None:
        error = N_("Log-in failed. Check the user name, the password and the code.")
        return render(request, who, "login.html", status=401, error=error, next=target)
    if result.must_change_password:
        target = PREFIX + "/account/password"
    elif result.must_enrol_totp:
        target = PREFIX + "/account/totp"
    response = redirect(target)
    max_age = int((result.expires_at - datetime.now(UTC)).total_seconds())
    set_session(request, response, result.token, max_age)
    response.delete_cookie(PRE_COOKIE, path=PREFIX)
    return response


@pages.post("/logout")
def logout(
    request: Request, who: Viewer = Depends(any_session), form: FormData = Depends(posted)
) -> Response:
    """End the session (the token is revoked, not deleted); any session."""
    assert who.caller is not None
    with console(request).ctx.engine.begin() as conn:
        login.revoke_token(conn, who.caller.token)
    response = redirect(LOGIN_PATH, "logged-out")
    drop_session(request, response)
    return response


def _spend_setup(request: Request, who: Viewer, done: str) -> Response:
    """A setup session has done its job: revoke it and ask for a fresh log-in."""
    assert who.caller is not None
    with console(request).ctx.engine.begin() as conn:
        login.revoke_token(conn, who.caller.token)
    response = redirect(LOGIN_PATH, done)
    drop_session(request, response)
    return response


@pages.get("/account/password")
def password_form(request: Request, who: Viewer = Depends(any_session)) -> Response:
    """Change one's own password (forced at first log-in, or self-service); any session."""
    return render(request, who, "password.html", policy=console(request).ctx.profile.passwords)


@pages.post("/account/password")
def password_submit(
    request: Request, who: Viewer = Depends(any_session), form: FormData = Depends(posted)
) -> Response:
    """Apply the profile's password policy and change the password; any session."""
    assert who.caller is not None
    app = console(request)
    policy = app.ctx.profile.passwords
    error: str | None = None
    try:
        current, new = secret(form, "current"), secret(form, "new")
        if new != secret(form, "repeat"):
            raise FormError(N_("The two new passwords differ."))
        with app.ctx.engine.begin() as conn:
            users.change_password(
                conn,
                who.caller.principal.user_id,
                current,
                new,
                policy=policy,
                source_address=source_address(request),
            )
    except FormError as exc:
        error = str(exc)
    except AccessDenied:
        error = N_("The current password is wrong.")
    except PasswordPolicyError as exc:
        error = POLICY_RULES.get(exc.rule, N_("The new password does not meet the policy."))
    if error is not None:
        return render(request, who, "password.html", status=400, error=error, policy=policy)
    if who.setup is not None:
        return _spend_setup(request, who, "password-changed")
    return redirect(PREFIX + "/account/password", "password-updated")


@pages.get("/account/totp")
def totp_form(request: Request, who: Viewer = Depends(any_session)) -> Response:
    """Enrol a TOTP authenticator (confirmed with the current password); any session."""
    return render(request, who, "totp.html", available=console(request).ctx.box is not None)


@pages.post("/account/totp")
def totp_submit(
    request: Request, who: Viewer = Depends(any_session), form: FormData = Depends(posted)
) -> Response:
    """Create the secret and show it once, with its otpauth:// URI; any session."""
    assert who.caller is not None
    app = console(request)
    if app.ctx.box is None:
        return render(request, who, "totp.html", status=503, available=False)
    try:
        password = secret(form, "password")
    except FormError as exc:
        return render(request, who, "totp.html", status=400, available=True, error=str(exc))
    user_id = who.caller.principal.user_id
    with app.ctx.engine.begin() as conn:
        stored = conn.execute(
            select(user_account.c.password_hash).where(user_account.c.id == user_id)
        ).scalar_one_or_none()
        if stored is None or not passwords.verify_password(stored, password):
            wrong = N_("The current password is wrong.")
            return render(request, who, "totp.html", status=400, available=True, error=wrong)
        raw = users.enrol_totp(conn, user_id, app.ctx.box)
        if who.setup is not None:
            login.revoke_token(conn, who.caller.token)
    response = render(
        request,
        who,
        "totp_done.html",
        secret=base64.b32encode(raw).decode("ascii").rstrip("="),
        uri=totp.provisioning_uri(raw, who.caller.username),
        relogin=who.setup is not None,
    )
    if who.setup is not None:
        drop_session(request, response)
    return response


@pages.get("/lang/{code}")
def switch_language(code: str, request: Request, who: Viewer = Depends(viewer)) -> Response:
    """Remember the viewer's language (public; a preference, not a change of data)."""
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=365 * 86400,
            path="/",
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )
    return response


@pages.get("/")
def home(request: Request, who: Viewer = Depends(signed_in)) -> Response:
    """Where a session starts: the first page the account's roles open."""
    if who.can(P.EVENTS_READ, all_scope=True) or who.can(P.SECURITY_EVENTS_READ):
        return redirect(PREFIX + "/dashboard")
    if who.can(P.AUDIT_READ):
        return redirect(PREFIX + "/audit")
    if who.can(P.READINGS_READ):
        return redirect(PREFIX + "/my")
    return render(request, who, "empty.html")
