"""Pagination (limit / offset or an `after` cursor, with RFC 8288 Link headers), time ranges,
ETags (If-None-Match -> 304) and the logging of data releases to third parties (ACC-6).

These are the shapes every resource shares, so a client learns them once: a list answers
`{"items": [...], "total": n, "limit": l, "offset": o}` plus `Link: <...>; rel="next"`; a time
range is [start, end) in ISO 8601 (a time without zone is UTC); a representation that may be
cached carries a strong ETag over its exact bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import Connection

from metra.api.context import ApiContext, context
from metra.api.permissions import Grant
from metra.api.problems import Problem
from metra.security import audit

T = TypeVar("T")
MAX_PAGE = 1000


def _iso_date(value: object) -> object:
    if isinstance(value, str):
        return date.fromisoformat(value)  # pydantic's lax mode would read "0" as a timestamp
    return value


def _iso_datetime(value: object) -> object:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A date written as ISO 8601 (YYYY-MM-DD) only."""
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]
"""A time written as ISO 8601 only (a number is not a time)."""


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Paging:
    """Where a page starts and how long it is."""

    limit: int
    offset: int


def paging(
    limit: int = Query(100, ge=1, le=MAX_PAGE, description="items per page"),
    offset: int = Query(0, ge=0, le=10**9, description="items to skip"),
) -> Paging:
    """The page the caller asks for."""
    return Paging(limit, offset)


def link_header(request: Request, response: Response, total: int, page: Paging) -> None:
    """Set `Link` (next / prev) and `X-Total-Count` for a limit / offset page."""
    links = []
    if page.offset + page.limit < total:
        url = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
        links.append(f'<{url}>; rel="next"')
    if page.offset > 0:
        url = request.url.include_query_params(
            offset=max(0, page.offset - page.limit), limit=page.limit
        )
        links.append(f'<{url}>; rel="prev"')
    if links:
        response.headers["Link"] = ", ".join(links)
    response.headers["X-Total-Count"] = str(total)


def utc(moment: datetime) -> datetime:
    """An aware UTC time; a time given without zone is read as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in UTC, and the first and last UTC day it touches."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()


def time_range(
    start: IsoDateTime = Query(..., description="inclusive start, ISO 8601 (UTC if no zone)"),
    end: IsoDateTime = Query(..., description="exclusive end, ISO 8601 (UTC if no zone)"),
    ctx: ApiContext = Depends(context),
) -> TimeRange:
    """A bounded, ordered time range; 422 otherwise."""
    try:
        begins, ends = utc(start), utc(end)
    except (OverflowError, ValueError):
        raise Problem(422, "the time range is outside what can be represented") from None
    if begins >= ends:
        raise Problem(422, "start must be before end", kind="invalid-range")
    if ends - begins > timedelta(days=ctx.settings.max_range_days):
        raise Problem(
            422,
            f"a range may span at most {ctx.settings.max_range_days} days",
            kind="invalid-range",
        )
    return TimeRange(begins, ends)


def _matches(header: str | None, tag: str) -> bool:
    if not header:
        return False
    candidates = [part.strip() for part in header.split(",")]
    return any(c == "*" or c.removeprefix("W/") == tag for c in candidates)


def cached(request: Request, body: bytes) -> tuple[str, bool]:
    """The strong ETag of a representation and whether the caller already holds it."""
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return tag, _matches(request.headers.get("if-none-match"), tag)


def tagged(request: Request, model: BaseModel) -> Response:
    """The model as JSON with an ETag, or 304 Not Modified when If-None-Match holds it."""
    return tagged_bytes(request, model.model_dump_json().encode())


def tagged_bytes(request: Request, body: bytes) -> Response:
    """JSON bytes with an ETag, or 304 Not Modified when If-None-Match holds them."""
    tag, fresh = cached(request, body)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if fresh:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def release(
    conn: Connection, grant: Grant, resource: str, subject: str, details: dict[str, Any]
) -> None:
    """Log a release of data to a third party in the audit trail (ACC-6); others are no-ops."""
    caller = grant.caller
    if not caller.third_party:
        return
    audit.record(
        conn,
        caller.username,
        f"export.api.{resource}",
        ("export", caller.username),
        None,
        {"subject": subject, **details},
        caller.source_address,
    )
