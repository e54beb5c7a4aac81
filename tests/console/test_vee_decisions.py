"""VEE worklist decisions stay decided after a re-run of the validation (DQ-4, DQ-11).

`run_vee` replaces the findings of the range it validates, so the finding a person accepted
comes back as a new row with a new id. The worklist keeps decisions under the finding's stable
key (meter, channel, rule, interval range; `metra.mdm.vee_decisions`), so the re-found finding
stays decided while a finding of another range still shows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from api.conftest import CHANNEL, World
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from metra.mdm.run import run_vee
from metra.mdm.schema import vee_finding
from metra.mdm.vee_decisions import vee_decision
from metra.profiles import load_profile
from metra.security.roles import Role

from .conftest import as_role
from .test_login import csrf

GAP_AT = datetime(2025, 3, 4, 2, 30, tzinfo=UTC)  # the seed's missing interval of 4 March
WORKLIST = "/console/vee?start=2025-03-01&days=10"


def validate(world: World) -> dict[int, tuple[str, datetime]]:
    """Run the MDM's validation over 1..8 March for meter "a"; the findings by id."""
    with world.engine.begin() as conn:
        run_vee(
            conn,
            [world.meters["a"]],
            date(2025, 3, 1),
            date(2025, 3, 8),
            load_profile("pl"),
            energy_unit_kwh=0.001,
        )
        rows = conn.execute(select(vee_finding.c.id, vee_finding.c.rule, vee_finding.c.first_at))
        return {r.id: (r.rule, r.first_at) for r in rows}


def test_dq11_an_accepted_finding_stays_accepted_after_a_re_run(
    client: TestClient, world: World
) -> None:
    """DQ-11: accept the gap through the worklist, validate again (the finding gets a new id),
    and the worklist still leaves it out; a finding of another range stays; deciding the re-found
    finding again is refused as decided already."""
    found = validate(world)
    (gap_id,) = [i for i, (rule, at) in found.items() if rule == "gap" and at == GAP_AT]
    as_role(client, world, Role.ADMINISTRATOR)
    client.cookies.set("metra_lang", "en")
    page = client.get(WORKLIST).text
    assert f'id="finding-{gap_id}"' in page
    answer = client.post(
        f"/console/vee/{gap_id}/accept",
        data={"csrf": csrf(page), "reason": "meter was being replaced"},
    )
    assert answer.status_code == 303
    assert f'id="finding-{gap_id}"' not in client.get(WORKLIST).text

    # another meter's finding arrives meanwhile, so the re-run cannot reuse the old ids
    with world.engine.begin() as conn:
        conn.execute(
            insert(vee_finding).values(
                meter_id=world.meters["b"],
                channel=CHANNEL,
                rule="spike",
                severity="error",
                first_at=datetime(2025, 3, 6, 10, tzinfo=UTC),
                last_at=datetime(2025, 3, 6, 10, 15, tzinfo=UTC),
                evidence={},
                found_at=datetime.now(UTC),
            )
        )
    again = validate(world)
    (new_id,) = [i for i, (rule, at) in again.items() if rule == "gap" and at == GAP_AT]
    assert new_id != gap_id and gap_id not in again  # the row the decision named is gone
    page = client.get(WORKLIST).text
    assert f'id="finding-{new_id}"' not in page  # still decided
    other = [i for i, (rule, _) in again.items() if rule == "spike"]
    assert other and all(f'id="finding-{i}"' in page for i in other)

    twice = client.post(
        f"/console/vee/{new_id}/accept", data={"csrf": csrf(page), "reason": "again"}
    )
    assert twice.status_code == 409 and "decided already" in twice.text
    with world.engine.connect() as conn:
        kept = conn.execute(select(vee_decision)).all()
    assert len(kept) == 1
    decision = kept[0]._mapping
    assert decision["decision"] == "accept" and decision["decided_by"] == "admin"
    assert decision["reason"] == "meter was being replaced"
    assert decision["first_at"] == GAP_AT and decision["last_at"] == GAP_AT + timedelta(minutes=15)
