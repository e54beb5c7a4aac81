"""File exports over the API (ACC-4, ACC-5, ACC-6): readings and events of a meter, a group or
a substation as CSV, TXT, the project's XML or IEC 61968-9, and the hourly wholesale report,
produced by `metra.mdm.exports` exactly as `metra export` produces them (`docs/exports.md`).

The file is written to a spool (memory up to `SPOOL_BYTES`, then a temporary file) and its
release recorded in the audit trail and sealed in the request's transaction *before* the first
byte is sent: a release is never unlogged, and a failure half-way answers a problem document
instead of a truncated 200. The body is then streamed from the spool in blocks. Retailers and
consumers export only meters that served their own points on every day of the period (the
readings router's scoping); their downloads are releases to themselves. An operator naming a
`recipient` releases to a third party and needs `exports:release` as well.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from tempfile import SpooledTemporaryFile
from typing import IO, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection

from metra.api import scoping
from metra.api.context import ApiContext, connection, context
from metra.api.paging import IsoDate
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.mdm import exports
from metra.mdm.exports import selection as selecting
from metra.mdm.exports.run import Format, Kind, Request, Signer
from metra.security import audit
from metra.security.roles import Permission, require

router = APIRouter(tags=["exports"], responses=responses(401, 403, 422, 429))

KEY_PASSWORD_ENV = "METRA_SIGNING_KEY_PASSWORD"
SPOOL_BYTES = 8 * 1024 * 1024
BLOCK = 64 * 1024
MAX_GROUP = 1000  # meters named in one request's query
MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.TXT: "text/plain; charset=utf-8",
    Format.XML: "application/xml",
    Format.CIM: "application/xml",
}
EXTENSIONS = {Format.CSV: "csv", Format.TXT: "txt", Format.XML: "xml", Format.CIM: "cim.xml"}
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file (Content-Disposition names it)",
        "content": {media: {} for media in sorted(set(MEDIA_TYPES.values()))},
    }
}


class EventFormat(StrEnum):
    """Formats of an events export."""

    CSV = "csv"
    TXT = "txt"
    XML = "xml"
    CIM = "cim"


@dataclass(frozen=True)
class Chosen:
    """What the query selects: exactly one of a meter, a group or a substation."""

    meter: str | None
    group: list[str] | None
    substation: str | None


def chosen(
    meter: str | None = Query(
        None, min_length=1, max_length=64, description="one meter: serial or id"
    ),
    group: list[str] | None = Query(
        None, max_length=MAX_GROUP, description="a group: meter serials or ids (repeat)"
    ),
    substation: str | None = Query(
        None, min_length=1, max_length=64, description="a substation's code: its members"
    ),
) -> Chosen:
    """The selection parameters; 422 unless exactly one is given."""
    given = [x for x in (meter, group, substation) if x]
    if len(given) != 1:
        raise Problem(422, "give exactly one of meter, group, substation", kind="export")
    return Chosen(meter, group, substation)


FIRST = Query(..., description="first day YYYY-MM-DD (in the export's zone)")
LAST = Query(..., description="last day, inclusive")
RECIPIENT = Query(
    None,
    min_length=1,
    max_length=128,
    description="third party receiving the file (needs exports:release)",
)


def _period(first: Any, last: Any) -> selecting.Period:
    try:
        return selecting.Period(first, last)
    except exports.ExportError as exc:
        raise Problem(422, str(exc), kind="export") from None


def _select(conn: Connection, what: Chosen, period: selecting.Period) -> selecting.Selection:
    try:
        if what.meter is not None:
            return selecting.one_meter(conn, what.meter, period)
        if what.group:
            return selecting.group(conn, what.group, "api", period)
        assert what.substation is not None
        return selecting.substation(conn, what.substation, period)
    except exports.ExportError as exc:
        raise Problem(422, str(exc), kind="export") from None


def _scoped(
    conn: Connection, grant: Grant, picked: selecting.Selection, period: selecting.Period
) -> None:
    """Refuse a narrowed caller any meter that was not theirs on every day of the period."""
    for ref in picked.meters:
        scoping.check_meter(conn, grant, ref.meter_id, period.first, period.last)


def _recipient(grant: Grant, named: str | None) -> str | None:
    """Who receives the file: the third-party caller itself, or the recipient an operator
    names (which needs exports:release); None for internal use."""
    if named is not None:
        require(grant.caller.principal, Permission.EXPORTS_RELEASE)
        return named
    return grant.caller.username if grant.caller.third_party else None


def _digest(spool: IO[bytes]) -> str:
    sha = hashlib.sha256()
    spool.seek(0)
    for block in iter(lambda: spool.read(BLOCK), b""):
        sha.update(block)
    spool.seek(0)
    return sha.hexdigest()


def _blocks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        yield from iter(lambda: spool.read(BLOCK), b"")
    finally:
        spool.close()


def _release(
    conn: Connection,
    grant: Grant,
    recipient: str | None,
    kind: Kind,
    fmt: str,
    source: str,
    picked: selecting.Selection,
    period: selecting.Period,
    zone: str,
    rows: int,
    spool: IO[bytes],
    file_name: str,
) -> None:
    """The export's audit entry (the CLI's `exports.record_release`), sealed now (ACC-6)."""
    exports.record_release(
        conn,
        exports.Release(
            actor=grant.caller.username,
            recipient=recipient,
            kind=kind.value,
            fmt=fmt,
            source=source,
            selection=picked,
            period=period,
            zone=zone,
            rows=rows,
            sha256=_digest(spool),
            file_name=file_name,
            points=selecting.metering_points(conn, picked, period.first),
        ),
    )
    audit.seal(conn)


def _file_name(kind: Kind, picked: selecting.Selection, period: selecting.Period, ext: str) -> str:
    label = "".join(c if c.isalnum() or c in "-_." else "_" for c in picked.label)[:64]
    return f"{kind.value}-{picked.kind}-{label}-{period.first}-{period.last}.{ext}"


def _send(spool: IO[bytes], media_type: str, file_name: str) -> StreamingResponse:
    return StreamingResponse(
        _blocks(spool),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name}"',
            "Cache-Control": "private, no-store",
        },
    )


def _data_export(
    conn: Connection,
    ctx: ApiContext,
    grant: Grant,
    kind: Kind,
    fmt: Format,
    what: Chosen,
    period: selecting.Period,
    local: bool,
    source: exports.Source,
    channels: list[str] | None,
    recipient: str | None,
) -> StreamingResponse:
    to = _recipient(grant, recipient)
    picked = _select(conn, what, period)
    _scoped(conn, grant, picked, period)
    request = Request(kind, fmt, picked, period, local, source, channels or None)
    spool: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by _blocks
    try:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
        try:
            rows = exports.export(conn, request, ctx.profile, text)
            text.flush()
        finally:
            text.detach()
        zone = ctx.profile.timezone if local else "UTC"
        name = _file_name(kind, picked, period, EXTENSIONS[fmt])
        src = source.value if kind is Kind.READINGS else ""
        _release(conn, grant, to, kind, fmt.value, src, picked, period, zone, rows, spool, name)
    except exports.ExportError as exc:
        spool.close()
        raise Problem(422, str(exc), kind="export") from None
    except BaseException:
        spool.close()
        raise
    return _send(spool, MEDIA_TYPES[fmt], name)


@router.get(
    "/exports/readings",
    response_class=StreamingResponse,
    responses=FILE_RESPONSE,
    operation_id="export_readings",
)
def export_readings(
    first: IsoDate = FIRST,
    last: IsoDate = LAST,
    fmt: Format = Query(Format.CSV, alias="format", description="csv, txt, xml or cim"),
    source: exports.Source = Query(exports.Source.SERVED, description="served or raw"),
    channel: list[str] | None = Query(
        None, max_length=32, description="only these channels (OBIS, repeat)"
    ),
    local: bool = Query(False, description="the profile's local days instead of UTC"),
    recipient: str | None = RECIPIENT,
    what: Chosen = Depends(chosen),
    grant: Grant = Depends(Need(Permission.READINGS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> StreamingResponse:
    """Intervals with status, billing and register values as a file; audited (ACC-5, ACC-6)."""
    period = _period(first, last)
    return _data_export(
        conn, ctx, grant, Kind.READINGS, fmt, what, period, local, source, channel, recipient
    )


@router.get(
    "/exports/events",
    response_class=StreamingResponse,
    responses=FILE_RESPONSE,
    operation_id="export_events",
)
def export_events(
    first: IsoDate = FIRST,
    last: IsoDate = LAST,
    fmt: EventFormat = Query(EventFormat.XML, alias="format", description="csv, txt, xml, cim"),
    local: bool = Query(False, description="the profile's local days instead of UTC"),
    recipient: str | None = RECIPIENT,
    what: Chosen = Depends(chosen),
    grant: Grant = Depends(Need(Permission.EVENTS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> StreamingResponse:
    """Meter events as a file (IEC 61968-9 EndDeviceEvents with `cim`); audited (ACC-6)."""
    period = _period(first, last)
    return _data_export(
        conn,
        ctx,
        grant,
        Kind.EVENTS,
        Format(fmt.value),
        what,
        period,
        local,
        exports.Source.SERVED,
        None,
        recipient,
    )


def signer(ctx: ApiContext) -> Signer | None:
    """The operator's key and certificate as configured on the server, or None."""
    key, cert = ctx.settings.signing_key, ctx.settings.signing_cert
    if key is None or cert is None:
        return None
    password = os.environ.get(KEY_PASSWORD_ENV)
    try:
        return Signer(key.read_bytes(), cert.read_bytes(), password.encode() if password else None)
    except OSError as exc:
        raise Problem(503, f"the signing key cannot be read: {exc}", kind="signing-key") from None


@router.get(
    "/exports/wholesale",
    response_class=StreamingResponse,
    responses={**FILE_RESPONSE, **responses(503)},
    operation_id="export_wholesale",
)
def export_wholesale(
    first: IsoDate = FIRST,
    last: IsoDate = LAST,
    state: str = Query("preliminary", pattern="^(preliminary|agreed)$"),
    recipient: str | None = RECIPIENT,
    what: Chosen = Depends(chosen),
    grant: Grant = Depends(Need(Permission.READINGS_READ)),
    conn: Connection = Depends(connection),
    ctx: ApiContext = Depends(context),
) -> StreamingResponse:
    """The hourly wholesale report in local time, signed with the operator's key configured on
    the server; 503 when the profile requires a signature and none is configured (ACC-4)."""
    period = _period(first, last)
    sign = signer(ctx)
    if sign is None and ctx.profile.reports.signed_wholesale_report:
        raise Problem(
            503,
            f"profile {ctx.profile.code} requires a signed wholesale report and no signing key "
            "is configured (METRA_SIGNING_KEY / METRA_SIGNING_CERT)",
            kind="signing-key",
        )
    to = _recipient(grant, recipient)
    picked = _select(conn, what, period)
    _scoped(conn, grant, picked, period)
    try:
        document, hours = exports.wholesale_report(
            conn,
            picked,
            period,
            ctx.profile,
            report_id=str(uuid4()),
            operator=grant.caller.username,
            created=datetime.now(UTC),
            state=state,
            signer=sign,
        )
    except exports.SignatureError as exc:
        raise Problem(503, str(exc), kind="signing-key") from None
    except exports.ExportError as exc:
        raise Problem(422, str(exc), kind="export") from None
    spool: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by _blocks
    spool.write(document)
    name = _file_name(Kind.WHOLESALE, picked, period, "xml")
    fmt = "xml-signed" if sign else "xml"
    try:
        _release(
            conn, grant, to, Kind.WHOLESALE, fmt, "served", picked, period,
            ctx.profile.timezone, hours, spool, name,
        )  # fmt: skip
    except BaseException:
        spool.close()
        raise
    return _send(spool, "application/xml", name)
