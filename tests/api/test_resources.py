"""The resources as a client meets them: master data as of a date with history, pagination and
the substation filter, intervals with status (raw and validated), ETags, problem+json errors,
rate limits, bounded bodies, consumers and retailers narrowed to their own points (STO-3, STO-4,
DQ-2, SEC-4, ACC-3, ACC-6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from metra.api import create_app
from metra.api.ratelimit import RateLimiter
from metra.api.routers.readings import IntervalsOut
from metra.security.roles import Role
from metra.store.events import SecurityCategory
from metra.store.masterdata import Entity, change
from metra.store.schema import audit_record, security_event

from .conftest import CHANNEL, DAYS, MONTH_START, World, month_query, settings_for

BACKENDS = ("sqlite", "postgresql")
PROBLEM = "application/problem+json"


def test_sto3_meter_as_of_a_date_history_and_etag(world: World, client: TestClient) -> None:
    """STO-3: the attributes valid on a date, every version, and 304 for an unchanged copy."""
    h = world.headers(Role.OPERATOR)
    url = f"/api/v1/meters/{world.meters['a']}"
    before = client.get(url, params={"on": "2025-01-15"}, headers=h)
    after = client.get(url, params={"on": "2025-02-15"}, headers=h)
    assert before.json()["attributes"]["firmware"] is None
    assert after.json()["attributes"]["firmware"] == "2.0"
    assert after.json()["attributes"]["system_title"] == b"MTR0000a".hex()
    assert client.get(url, params={"on": "2023-12-31"}, headers=h).status_code == 404
    history = client.get(f"{url}/history", headers=h).json()["items"]
    assert [v["valid_from"] for v in history] == ["2024-01-01", "2025-02-01"]
    tag = after.headers["etag"]
    again = client.get(url, params={"on": "2025-02-15"}, headers={**h, "If-None-Match": tag})
    assert again.status_code == 304 and again.headers["etag"] == tag and not again.content
    other = client.get(url, params={"on": "2025-01-15"}, headers={**h, "If-None-Match": tag})
    assert other.status_code == 200


def test_sto4_linkage_ties_meter_to_point_and_parties(world: World, client: TestClient) -> None:
    """STO-4: a meter's values belong to a metering point, delivery point and parties."""
    h = world.headers(Role.OPERATOR)
    link = client.get(f"/api/v1/meters/{world.meters['a']}/linkage", headers=h).json()
    assert link["delivery_point_id"] == str(world.points["a"])
    assert link["consumer_id"] == str(world.parties["consumer-a"])
    assert link["supplier_id"] == str(world.parties["retailer-a"])


def test_acc3_pagination_links_and_substation_filter(world: World, client: TestClient) -> None:
    """ACC-3: limit/offset pages with Link rel=next/prev; filter by substation."""
    h = world.headers(Role.OPERATOR)
    first = client.get("/api/v1/meters", params={"limit": 1}, headers=h)
    body = first.json()
    assert body["total"] == 2 and len(body["items"]) == 1
    assert first.headers["x-total-count"] == "2"
    next_url = first.headers["link"].split(";")[0].strip("<>")
    second = client.get(next_url, headers=h)
    assert 'rel="prev"' in second.headers["link"] and 'rel="next"' not in second.headers["link"]
    ids = {body["items"][0]["id"], second.json()["items"][0]["id"]}
    assert ids == {str(world.meters["a"]), str(world.meters["b"])}
    for key, substation in (("a", world.substation), ("b", world.other_substation)):
        for plural, wanted in (
            ("meters", world.meters[key]),
            ("delivery-points", world.points[key]),
            ("metering-points", world.metering_points[key]),
        ):
            found = client.get(
                f"/api/v1/{plural}", params={"substation": str(substation)}, headers=h
            ).json()
            assert [i["id"] for i in found["items"]] == [str(wanted)], plural


def test_dq2_month_of_intervals_with_status_raw_and_validated(
    world: World, client: TestClient
) -> None:
    """DQ-2: each interval with its origin and quality; a missing one is absent; validated data
    name the estimation method; an unchanged month answers 304."""
    h = world.headers(Role.OPERATOR)
    url = f"/api/v1/meters/{world.meters['a']}/intervals"
    month = client.get(url, params=month_query(), headers=h)
    items = month.json()["items"]
    assert len(items) == DAYS * 96 - 1
    assert IntervalsOut.model_validate_json(month.content).model_dump_json() == month.text
    assert items[0]["start"].startswith("2025-03-01T00:00:00")
    assert {i["origin"] for i in items} == {"remote"}
    assert {i["quality"] for i in items} == {"not_validated"}
    missing = (MONTH_START + timedelta(days=3, minutes=150)).isoformat()
    assert missing not in {i["start"] for i in items}
    cached = client.get(
        url, params=month_query(), headers={**h, "If-None-Match": month.headers["etag"]}
    )
    assert cached.status_code == 304
    day = {"channel": CHANNEL, "start": "2025-03-04T00:00:00Z", "end": "2025-03-05T00:00:00Z"}
    validated = client.get(url, params={**day, "source": "validated"}, headers=h).json()["items"]
    assert len(validated) == 96
    assert validated[10]["method"] == "interpolated" and validated[10]["value"] == 9.5
    assert validated[10]["origin"] == "system" and validated[11]["method"] == "measured"
    registers = client.get(
        f"/api/v1/meters/{world.meters['a']}/registers", params=month_query(), headers=h
    ).json()["items"]
    assert [r["value"] for r in registers] == ["1000.0", "1001.0", "1002.0"]
    billing = client.get(
        f"/api/v1/meters/{world.meters['a']}/billing", params=month_query(), headers=h
    ).json()["items"]
    assert billing[0]["period"] == "M" and billing[0]["value"] == "5000.0"


def test_problem_json_for_every_kind_of_failure(world: World, client: TestClient) -> None:
    """Typed errors (RFC 9457): 401, 404, 405, 422 (validation and range) as problem+json."""
    h = world.headers(Role.OPERATOR)
    unknown = client.get("/api/v1/meters/00000000-0000-4000-8000-000000000000", headers=h)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    assert unknown.json()["type"] == "urn:metra:problem:not-found"
    bad_id = client.get("/api/v1/meters/not-a-uuid", headers=h)
    assert bad_id.status_code == 422 and bad_id.headers["content-type"] == PROBLEM
    assert bad_id.json()["errors"][0]["loc"] == ["path", "entity_id"]
    backwards = client.get(
        f"/api/v1/meters/{world.meters['a']}/intervals",
        params={**month_query(), "start": "2025-04-01T00:00:00Z"},
        headers=h,
    )
    assert backwards.status_code == 422
    assert backwards.json()["type"] == "urn:metra:problem:invalid-range"
    too_long = client.get(
        f"/api/v1/meters/{world.meters['a']}/intervals",
        params={**month_query(), "start": "2020-01-01T00:00:00Z"},
        headers=h,
    )
    assert too_long.status_code == 422
    no_token = client.get("/api/v1/meters")
    assert no_token.status_code == 401 and no_token.headers["content-type"] == PROBLEM
    wrong_method = client.put("/api/v1/meters", headers=h)
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == PROBLEM


def test_request_bodies_are_bounded(world: World, client: TestClient) -> None:
    """Bad input is refused with a typed error: a body above 1 MiB answers 413."""
    huge = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    response = client.post(
        "/api/v1/auth/login", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and response.headers["content-type"] == PROBLEM


def test_rate_limit_per_token_answers_429_with_retry_after(world: World) -> None:
    """A token past its budget gets 429 with Retry-After; another token is not affected."""
    app = create_app(settings_for(world, rate_per_s=0.5, burst=3))
    with TestClient(app) as limited:
        first, second = world.headers(Role.OPERATOR), world.headers(Role.OPERATOR)
        codes = [limited.get("/api/v1/auth/me", headers=first).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = limited.get("/api/v1/auth/me", headers=first)
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"] == "urn:metra:problem:rate-limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert limited.get("/api/v1/auth/me", headers=second).status_code == 200


def test_sec8_rate_limit_refusal_is_a_security_event_once_a_minute(world: World) -> None:
    """SEC-8: a token hammering the API past its budget is raised as a security event (denial
    of service) naming the account and the address, once per minute however many calls are
    refused; calls without a token are limited and reported per source address."""
    app = create_app(settings_for(world, rate_per_s=0.01, burst=2))
    since = datetime.now(UTC) - timedelta(seconds=1)

    def flood_events() -> list[dict[str, Any]]:
        with world.engine.connect() as conn:
            rows = conn.execute(
                select(security_event)
                .where(security_event.c.description.like("rate limit exceeded%"))
                .where(security_event.c.occurred_at >= since)
                .where(security_event.c.source_address == "198.51.100.9")
            ).all()
        return [dict(r._mapping) for r in rows]

    with TestClient(app, client=("198.51.100.9", 5000)) as limited:
        h = world.headers(Role.OPERATOR)
        codes = [limited.get("/api/v1/auth/me", headers=h).status_code for _ in range(6)]
        assert codes == [200, 200, 429, 429, 429, 429]
        found = flood_events()
        assert len(found) == 1
        event = found[0]
        assert event["category"] == SecurityCategory.DENIAL_OF_SERVICE.value
        assert (event["actor"], event["source_address"]) == ("user-operator", "198.51.100.9")
        assert event["details"]["limited_by"] == "token"
        anonymous = [limited.get("/api/v1/health").status_code for _ in range(4)]
        assert anonymous[-1] == 429
        found = flood_events()
        assert len(found) == 2 and found[1]["actor"] is None
        assert found[1]["details"]["limited_by"] == "address"


def test_sec8_limiter_reports_a_key_once_per_window_with_the_count() -> None:
    """SEC-8: the first refusal of a key is reported, the next ones within the window are only
    counted, and the first after the window carries how many were refused meanwhile."""
    now = [0.0]
    limiter = RateLimiter(1.0, 1, clock=lambda: now[0], report_every_s=60.0)
    assert limiter.refused("t:x") == 1
    assert [limiter.refused("t:x") for _ in range(3)] == [None, None, None]
    assert limiter.refused("t:y") == 1
    now[0] = 61.0
    assert limiter.refused("t:x") == 4
    assert limiter.refused("t:x") is None


def test_sec4_consumer_and_retailer_see_only_their_own_points(
    world: World, client: TestClient
) -> None:
    """SEC-4 (GDPR): another consumer's meter, point and data are refused; lists are narrowed."""
    for role in (Role.CONSUMER, Role.RETAILER):
        h = world.headers(role)
        meters = client.get("/api/v1/meters", headers=h).json()["items"]
        assert [m["id"] for m in meters] == [str(world.meters["a"])]
        points = client.get("/api/v1/delivery-points", headers=h).json()["items"]
        assert [p["id"] for p in points] == [str(world.points["a"])]
        theirs = world.meters["b"]
        assert client.get(f"/api/v1/meters/{theirs}", headers=h).status_code == 403
        assert (
            client.get(
                f"/api/v1/meters/{theirs}/intervals", params=month_query(), headers=h
            ).status_code
            == 403
        )
        assert (
            client.get(f"/api/v1/delivery-points/{world.points['b']}", headers=h).status_code == 403
        )
        assert client.get(f"/api/v1/meters/{world.meters['a']}", headers=h).status_code == 200


def test_acc6_consumer_fetch_is_logged_as_release(world: World, client: TestClient) -> None:
    """ACC-6: a consumer's download of its data is a release recorded in the audit trail."""
    h = world.headers(Role.CONSUMER)
    response = client.get(
        f"/api/v1/meters/{world.meters['a']}/intervals", params=month_query(), headers=h
    )
    assert response.status_code == 200
    with world.engine.connect() as conn:
        rows = conn.execute(
            select(audit_record).where(
                audit_record.c.action == "export.api.intervals",
                audit_record.c.actor == "user-consumer",
            )
        ).all()
    assert rows and rows[-1].details["after"]["subject"] == str(world.meters["a"])
    assert rows[-1].hash is not None


def test_sec4_new_tenant_does_not_see_the_previous_tenants_days(
    world: World, client: TestClient
) -> None:
    """SEC-4 (GDPR): after a move on the 15th, the old tenant sees up to the 14th only."""
    with world.engine.begin() as conn:
        change(
            conn,
            Entity.DELIVERY_POINT,
            world.points["a"],
            {"consumer_id": world.parties["consumer-b"]},
            effective=date(2025, 3, 15),
        )
    h = world.headers(Role.CONSUMER)
    url = f"/api/v1/meters/{world.meters['a']}/intervals"
    whole = client.get(url, params=month_query(), headers=h)
    assert whole.status_code == 403
    early = {**month_query(), "end": "2025-03-15T00:00:00Z"}
    assert client.get(url, params=early, headers=h).status_code == 200
    late = {**month_query(), "start": "2025-03-14T23:45:00Z"}
    assert client.get(url, params=late, headers=h).status_code == 403
