"""Typed errors as RFC 9457 problem details (``application/problem+json``) on every path.

Every failure a client can meet has a `type` URI naming its kind, so a client branches on the
type and never parses the human-readable `detail`. Core-layer exceptions (`AccessDenied`,
`NotFound`, `InvalidData`, ...) map to one problem each here, in one place; an unexpected
exception becomes a 500 problem that says nothing about the internals (the log has the rest).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from metra.mdm.versions import EditRefused
from metra.security.errors import (
    AuthenticationFailed,
    PasswordPolicyError,
    SecretError,
    UserError,
)
from metra.store.errors import InvalidData, NotFound

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:metra:problem:"
log = logging.getLogger("metra.api")

_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-request", "Invalid request"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal", "Internal error"),
    503: ("unavailable", "Service unavailable"),
}


class ProblemBody(BaseModel):
    """An RFC 9457 problem document, as published in the OpenAPI description."""

    type: str = Field(description="URI naming the kind of problem (urn:metra:problem:...)")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="validation errors: where and why"
    )


class Problem(Exception):
    """Raise to answer with a problem document; `kind` is the last segment of the type URI."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        default_kind, default_title = _TITLES.get(status, ("error", "Error"))
        super().__init__(detail or default_title)
        self.status = status
        self.detail = detail
        self.kind = kind or default_kind
        self.title = title or default_title
        self.headers = headers or {}
        self.errors = errors


def problem_response(request: Request, problem: Problem) -> Response:
    """The problem as a response with its media type and headers."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "instance": request.url.path,
    }
    if problem.detail is not None:
        body["detail"] = problem.detail
    if problem.errors is not None:
        body["errors"] = problem.errors
    return JSONResponse(body, problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def unauthenticated(detail: str = "a valid bearer token is required") -> Problem:
    """401 with the challenge RFC 6750 asks for."""
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="metra"'})


def allowed_methods(request: Request) -> list[str]:
    """Every method any route of the path takes (Starlette names only the first route's)."""
    index: list[tuple[re.Pattern[str], set[str]]] = getattr(request.app.state, "allow_index", [])
    path = request.url.path
    return sorted({m for pattern, methods in index if pattern.match(path) for m in methods})


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        out.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return out


def install(app: FastAPI) -> None:
    """Map every failure to a problem document (called once by the app factory)."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return problem_response(request, exc)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return problem_response(request, Problem(exc.status_code, detail, headers=headers))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(request, Problem(422, detail, errors=errors))

    def mapped(status: int, kind: str | None = None) -> Any:
        async def handler(request: Request, exc: Exception) -> Response:
            return problem_response(request, Problem(status, str(exc), kind=kind))

        return handler

    async def on_auth(request: Request, exc: Exception) -> Response:
        # The reason stays in the security journal: the caller learns only that it failed.
        return problem_response(request, unauthenticated("authentication failed"))

    async def on_password(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PasswordPolicyError)
        problem = Problem(422, str(exc), kind="password-policy", title="Password policy")
        problem.errors = [{"loc": ["body", "new_password"], "msg": str(exc), "type": exc.rule}]
        return problem_response(request, problem)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected failure on %s %s", request.method, request.url.path)
        return problem_response(request, Problem(500, "the request could not be completed"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(NotFound, mapped(404))
    app.add_exception_handler(InvalidData, mapped(422, "invalid-data"))
    app.add_exception_handler(EditRefused, mapped(422, "edit-refused"))
    app.add_exception_handler(UserError, mapped(409, "user"))
    app.add_exception_handler(SecretError, mapped(503, "master-key"))
    app.add_exception_handler(AuthenticationFailed, on_auth)
    app.add_exception_handler(PasswordPolicyError, on_password)
    app.add_exception_handler(Exception, on_unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem statuses an operation may answer with."""
    return {
        status: {
            "model": ProblemBody,
            "description": _TITLES.get(status, ("", "Error"))[1],
            "content": {MEDIA_TYPE: {}},
        }
        for status in statuses
    }
