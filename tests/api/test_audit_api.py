"""Edits with a reason land in the hash-chained audit trail, and tampering with the trail is
detected through the API's verify endpoint (DQ-11, STO-5, SEC-12)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from metra.security.roles import Role
from metra.store.schema import audit_record

from .conftest import CHANNEL, World

BACKENDS = ("sqlite", "postgresql")


def test_dq11_edit_with_reason_is_audited_and_served(world: World, client: TestClient) -> None:
    """DQ-11: a manual edit needs a reason, adds a version, and is sealed in the audit trail."""
    h = world.headers(Role.ADMINISTRATOR)
    url = f"/api/v1/meters/{world.meters['a']}/vee/{CHANNEL}/2025-03-04"
    no_reason = client.post(
        f"{url}/edits", json={"changes": [{"index": 5, "value": 1.5}], "reason": ""}, headers=h
    )
    assert no_reason.status_code == 422
    edit = client.post(
        f"{url}/edits",
        json={"changes": [{"index": 5, "value": 1.5}], "reason": "meter exchanged"},
        headers=h,
    )
    assert edit.status_code == 201 and edit.json()["version"] == 2
    day = client.get(url, headers=h).json()
    assert day["values"][5] == 1.5 and day["method"][5] == "manual"
    assert [v["kind"] for v in day["history"]] == ["vee", "manual"]
    assert day["history"][1]["reason"] == "meter exchanged"
    audit = world.headers(Role.AUDITOR)
    found = client.get("/api/v1/audit", params={"action": "mdm.*"}, headers=audit).json()
    entry = found["items"][-1]
    assert entry["action"] == "mdm.edit" and entry["actor"] == "admin"
    assert entry["details"]["reason"] == "meter exchanged"
    assert entry["details"]["before"] == [5.0] and entry["details"]["after"] == [1.5]
    assert entry["hash"] is not None


def test_audit_cursor_pages_in_sequence(world: World, client: TestClient) -> None:
    """The trail is read forward with an `after` cursor and Link rel=next."""
    h = world.headers(Role.AUDITOR)
    first = client.get("/api/v1/audit", params={"limit": 3}, headers=h)
    page = first.json()
    assert len(page["items"]) == 3 and page["next_after"] == page["items"][-1]["seq"]
    following = client.get(first.headers["link"].split(";")[0].strip("<>"), headers=h).json()
    assert following["items"][0]["seq"] > page["next_after"]


def test_sto5_tampering_detected_by_verify_endpoint(world: World, client: TestClient) -> None:
    """STO-5: editing an entry, deleting one, or cutting the newest ones is detected."""
    h = world.headers(Role.AUDITOR)
    intact = client.get("/api/v1/audit/verify", headers=h).json()
    assert intact["ok"] and intact["checked"] > 5 and intact["pending"] == 0
    anchor = intact["anchor"]
    assert client.get("/api/v1/audit/verify", params={"anchor": anchor}, headers=h).json()["ok"]
    assert (
        client.get("/api/v1/audit/verify", params={"anchor": "1:zz"}, headers=h).status_code == 422
    )
    with world.engine.begin() as conn:
        newest = conn.execute(
            select(audit_record.c.seq).order_by(audit_record.c.seq.desc())
        ).first()
        assert newest is not None
        conn.execute(delete(audit_record).where(audit_record.c.seq == newest[0]))
    cut = client.get("/api/v1/audit/verify", params={"anchor": anchor}, headers=h).json()
    assert not cut["ok"] and "truncated" in cut["problem"]
    with world.engine.begin() as conn:
        conn.execute(
            update(audit_record)
            .where(audit_record.c.seq == 3)
            .values(details={"before": None, "after": "forged", "source_address": None})
        )
    edited = client.get("/api/v1/audit/verify", headers=h).json()
    assert not edited["ok"] and edited["first_bad_seq"] == 3 and "edited" in edited["problem"]
    with world.engine.begin() as conn:
        conn.execute(delete(audit_record).where(audit_record.c.seq == 2))
    deleted = client.get("/api/v1/audit/verify", headers=h).json()
    assert not deleted["ok"] and deleted["first_bad_seq"] == 3
    assert "deleted" in deleted["problem"]
    report = client.get("/api/v1/compliance", headers=h).json()
    sto5 = next(c for c in report if c["requirement"] == "STO-5")
    assert "BROKEN" in sto5["evidence"] and sto5["status"] == "configured"
