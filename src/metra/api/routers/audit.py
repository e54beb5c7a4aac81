"""The audit trail (STO-5): search with an `after` cursor, verification of the hash chain, and
the compliance report per control objective (SEC-12). Read-only: the trail is append-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection, select

from metra.api.context import connection
from metra.api.paging import IsoDateTime, utc
from metra.api.permissions import Grant, Need
from metra.api.problems import Problem, responses
from metra.security import audit, incidents
from metra.security.roles import Permission
from metra.store.schema import audit_record

P = Permission
router = APIRouter(tags=["audit"], responses=responses(401, 403, 422, 429))


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target_kind: str | None
    target_id: str | None
    details: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_after: int | None


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    pending: int
    head_seq: int | None
    head_hash: str | None
    anchor: str | None
    first_bad_seq: int | None
    problem: str | None


class ControlOut(BaseModel):
    requirement: str
    objective: str
    controls: str
    evidence: str
    status: str


def _hex(value: bytes | None) -> str | None:
    return None if value is None else bytes(value).hex()


@router.get("/audit", response_model=AuditPage, operation_id="search_audit")
def search_audit(
    request: Request,
    response: Response,
    after: int = Query(0, ge=0, le=2**62, description="cursor: entries after this sequence"),
    limit: int = Query(100, ge=1, le=1000),
    actor: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64, description="exact, or a prefix ending in *"),
    target_kind: str | None = Query(None, max_length=32),
    target_id: str | None = Query(None, max_length=64),
    start: IsoDateTime | None = None,
    end: IsoDateTime | None = None,
    grant: Grant = Depends(Need(P.AUDIT_READ)),
    conn: Connection = Depends(connection),
) -> AuditPage:
    """Audit entries in sequence order, filtered; follow `next_after` (or Link rel=next)."""
    t = audit_record.c
    where = [t.seq > after]
    if actor is not None:
        where.append(t.actor == actor)
    if action is not None:
        where.append(
            t.action.startswith(action[:-1], autoescape=True)
            if action.endswith("*")
            else t.action == action
        )
    if target_kind is not None:
        where.append(t.target_kind == target_kind)
    if target_id is not None:
        where.append(t.target_id == target_id)
    if start is not None:
        where.append(t.at >= utc(start))
    if end is not None:
        where.append(t.at < utc(end))
    rows = conn.execute(select(audit_record).where(*where).order_by(t.seq).limit(limit)).all()
    items = [
        AuditEntryOut(**{**row._mapping, "prev_hash": _hex(row.prev_hash), "hash": _hex(row.hash)})
        for row in rows
    ]
    next_after = items[-1].seq if len(items) == limit else None
    if next_after is not None:
        url = request.url.include_query_params(after=next_after, limit=limit)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return AuditPage(items=items, next_after=next_after)


def _anchor(text: str | None) -> tuple[int, bytes] | None:
    if text is None:
        return None
    seq, _, digest = text.partition(":")
    try:
        value = (int(seq), bytes.fromhex(digest))
    except ValueError:
        raise Problem(422, "anchor must be SEQ:HEX", kind="invalid-request") from None
    if len(value[1]) != 32:
        raise Problem(422, "anchor hash must be 32 octets", kind="invalid-request")
    return value


@router.get("/audit/verify", response_model=VerificationOut, operation_id="verify_audit")
def verify_audit(
    anchor: str | None = Query(
        None, pattern=r"^[0-9]{1,18}:[0-9a-fA-F]{64}$", description="SEQ:HEX noted earlier"
    ),
    grant: Grant = Depends(Need(P.AUDIT_READ)),
    conn: Connection = Depends(connection),
) -> VerificationOut:
    """Walk the hash chain: the first edited, deleted or inserted entry, if any (STO-5)."""
    result = audit.verify(conn, _anchor(anchor))
    head = (
        f"{result.head_seq}:{result.head_hash.hex()}"
        if result.head_seq is not None and result.head_hash is not None
        else None
    )
    return VerificationOut(
        ok=result.ok,
        checked=result.checked,
        pending=result.pending,
        head_seq=result.head_seq,
        head_hash=_hex(result.head_hash),
        anchor=head if result.ok else None,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
    )


@router.get("/compliance", response_model=list[ControlOut], operation_id="compliance_report")
def compliance(
    grant: Grant = Depends(Need(P.AUDIT_READ)), conn: Connection = Depends(connection)
) -> list[ControlOut]:
    """Compliance status per control objective with the evidence held (SEC-12)."""
    return [
        ControlOut(**c.__dict__) for c in incidents.compliance_report(conn, grant.caller.principal)
    ]
