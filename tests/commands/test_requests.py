"""Command requests and their safeguards on both backends (CMD-3, CMD-4, SEC-4, SEC-6, SEC-10,
PRE-4, JUR-1): lifecycle, idempotence, deadlines with the working-day calendar, the two-person
rule, limits per window, the emergency mode, the controlled zone, deactivated functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, select

from metra.profiles import Profile
from metra.security import audit
from metra.security.command_requests import (
    approve,
    cancel,
    deadline_of,
    next_disconnection_time,
    submit,
)
from metra.security.errors import AccessDenied
from metra.security.roles import Role
from metra.security.safeguards import CommandPolicy, SafeguardRefused
from metra.store import commands
from metra.store.commands import IllegalTransition, Priority, Status
from metra.store.masterdata import Entity, create
from metra.store.schema import security_event

from .conftest import LOCAL, ZONE, person

WARSAW = ZoneInfo("Europe/Warsaw")
KYIV = ZoneInfo("Europe/Kyiv")
#: Tuesday 11 March 2025, 10:00 in Warsaw.
NOW = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)

ann = person("ann", Role.SERVICE)
bob = person("bob", Role.SERVICE)
cid_ = person("cid", Role.SERVICE)
olga = person("olga", Role.OPERATOR)
admin = person("root", Role.ADMINISTRATOR)


def meters(conn: Connection, n: int, **attrs: object) -> list[UUID]:
    return [
        create(conn, Entity.METER, {"serial": f"T{i:04d}", **attrs}, effective=date(2025, 1, 1))
        for i in range(n)
    ]


def events(conn: Connection) -> list[str]:
    return list(conn.execute(select(security_event.c.description)).scalars())


def status_of(conn: Connection, ids: tuple[UUID, ...]) -> list[str]:
    return [commands.get(conn, i).status for i in ids]


# ------------------------------------------------------------------------- lifecycle (CMD-4)


def test_cmd4_single_command_queued_with_priority_deadline_and_audit(
    conn: Connection, pl: Profile
) -> None:
    """One disconnection by one person goes straight to the queue; connect is high priority
    with 24 h, a limit normal with 3 working days; each step is audited and the chain verifies."""
    (m,) = meters(conn, 1)
    done = submit(conn, ann, pl, ZONE, "connect", [m], source_address=LOCAL, now=NOW)
    assert done.status == "approved" and done.approvals_required == 0
    (cmd,) = [commands.get(conn, i) for i in done.command_ids]
    assert cmd.status == Status.QUEUED.value
    assert cmd.priority == Priority.HIGH
    assert cmd.deadline == NOW + timedelta(hours=24)
    steps = [t.to_status for t in commands.history(conn, cmd.id)]
    assert steps == ["received", "approved", "queued"]
    limit = submit(
        conn, ann, pl, ZONE, "power_limit", [m], params={"watts": 1}, source_address=LOCAL, now=NOW
    )
    normal = commands.get(conn, limit.command_ids[0])
    assert normal.priority == Priority.NORMAL
    # Tuesday + 3 working days = Friday 14 March, ending at 24:00 Warsaw time.
    assert normal.deadline == datetime(2025, 3, 15, 0, 0, tzinfo=WARSAW)
    audit.seal(conn)
    assert audit.verify(conn).ok


def test_cmd4_deadlines_follow_the_working_day_calendar(pl: Profile, ua: Profile) -> None:
    """CMD-4 with the PL calendar: a normal command received on Thursday 30 April 2025 skips
    1 May and 3 May (holidays) and the weekend; a high one keeps 24 h whatever the day."""
    thursday = datetime(2025, 4, 30, 15, 0, tzinfo=WARSAW)
    # Working days after 30 April: 2 May (Fri), 5 May (Mon), 6 May (Tue).
    assert deadline_of(pl, "disconnect", thursday, hub_prepayment=False) == datetime(
        2025, 5, 7, 0, 0, tzinfo=WARSAW
    )
    assert deadline_of(pl, "connect", thursday, hub_prepayment=False) == thursday + timedelta(
        hours=24
    )
    # PRE-2: a hub's prepayment request within one working day: Friday 2 May, 24:00.
    assert deadline_of(pl, "disconnect", thursday, hub_prepayment=True) == datetime(
        2025, 5, 3, 0, 0, tzinfo=WARSAW
    )


def test_cmd4_retried_submission_never_creates_twice(conn: Connection, pl: Profile) -> None:
    """Idempotence: the same request id returns the stored request; other content is refused."""
    (m, n) = meters(conn, 2)
    rid = uuid4()
    first = submit(
        conn, ann, pl, ZONE, "time_sync", [m], request_id=rid, source_address=LOCAL, now=NOW
    )
    again = submit(
        conn, ann, pl, ZONE, "time_sync", [m], request_id=rid, source_address=LOCAL, now=NOW
    )
    assert first.created and not again.created
    assert again.command_ids == first.command_ids
    assert len(commands.listing(conn, meter_id=m)) == 1
    with pytest.raises(SafeguardRefused) as refused:
        submit(conn, ann, pl, ZONE, "time_sync", [n], request_id=rid, source_address=LOCAL, now=NOW)
    assert refused.value.rule == "request_id"


def test_cmd4_lifecycle_refuses_illegal_moves(conn: Connection, pl: Profile) -> None:
    """A confirmed command cannot be sent again; a cancelled one cannot be queued."""
    (m,) = meters(conn, 1)
    done = submit(conn, ann, pl, ZONE, "time_sync", [m], source_address=LOCAL, now=NOW)
    (cid,) = done.command_ids
    commands.transition(conn, cid, Status.SENT, at=NOW, actor="t")
    commands.transition(conn, cid, Status.CONFIRMED, at=NOW, actor="t")
    with pytest.raises(IllegalTransition):
        commands.transition(conn, cid, Status.SENT, at=NOW, actor="t")
    later = submit(conn, ann, pl, ZONE, "time_sync", [m], source_address=LOCAL, now=NOW)
    assert cancel(conn, bob, later.request_id, source_address=LOCAL, now=NOW) == list(
        later.command_ids
    )
    with pytest.raises(IllegalTransition):
        commands.transition(conn, later.command_ids[0], Status.QUEUED, at=NOW, actor="t")


def test_cmd4_overdue_commands_expire(conn: Connection, pl: Profile) -> None:
    """Commands still undelivered at their deadline are no longer current: expired."""
    (m,) = meters(conn, 1)
    done = submit(conn, ann, pl, ZONE, "connect", [m], source_address=LOCAL, now=NOW)
    assert commands.expire_overdue(conn, NOW + timedelta(hours=23), actor="t") == []
    assert commands.expire_overdue(conn, NOW + timedelta(hours=24), actor="t") == list(
        done.command_ids
    )


# ------------------------------------------------------------------------- two people (SEC-4)


def test_sec4_bulk_disconnection_needs_a_second_person_not_the_requester(
    conn: Connection, pl: Profile
) -> None:
    """SEC-6: more than one point at once waits for another authorised person; the requester,
    an unauthorised user and the same approver twice are refused."""
    group = meters(conn, 3)
    done = submit(conn, ann, pl, ZONE, "disconnect", group, source_address=LOCAL, now=NOW)
    assert done.status == "awaiting_approval" and done.approvals_required == 1
    assert set(status_of(conn, done.command_ids)) == {"received"}
    assert [r.id for r in commands.requests_awaiting(conn)] == [done.request_id]
    with pytest.raises(SafeguardRefused) as own:
        approve(conn, ann, ZONE, done.request_id, source_address=LOCAL, now=NOW)
    assert own.value.rule == "self_approval"
    with pytest.raises(SafeguardRefused) as reader:
        approve(conn, olga, ZONE, done.request_id, source_address=LOCAL, now=NOW)
    assert reader.value.rule == "permission"
    with pytest.raises(SafeguardRefused) as outside:
        approve(conn, bob, ZONE, done.request_id, source_address="192.0.2.7", now=NOW)
    assert outside.value.rule == "zone"
    assert set(status_of(conn, done.command_ids)) == {"received"}
    request = approve(conn, bob, ZONE, done.request_id, source_address=LOCAL, now=NOW)
    assert request.status == "approved" and request.approvers == ("bob",)
    assert set(status_of(conn, done.command_ids)) == {"queued"}
    with pytest.raises(SafeguardRefused):
        approve(conn, cid_, ZONE, done.request_id, source_address=LOCAL, now=NOW)
    assert len(events(conn)) == 3  # own approval, no permission, outside the zone


def test_sec4_requester_needs_the_kinds_permission(conn: Connection, pl: Profile) -> None:
    """Least privilege: an operator cannot command, a service engineer cannot change keys or
    firmware; each refusal is a security event."""
    (m,) = meters(conn, 1)
    for actor, kind in ((olga, "disconnect"), (ann, "key_change"), (ann, "firmware_update")):
        with pytest.raises(SafeguardRefused) as refused:
            submit(conn, actor, pl, ZONE, kind, [m], source_address=LOCAL, now=NOW)
        assert refused.value.rule == "permission"
    assert len(events(conn)) == 3
    with pytest.raises(AccessDenied):
        done = submit(conn, ann, pl, ZONE, "time_sync", [m], source_address=LOCAL, now=NOW)
        cancel(conn, olga, done.request_id, source_address=LOCAL, now=NOW)


# ------------------------------------------------------------------------- limits (SEC-6)


def test_sec6_per_user_limit_refuses_and_raises_an_alarm(conn: Connection, pl: Profile) -> None:
    """PL: 20 disconnections per user per 60 min; the 21st is refused as an alarm, another user
    may still act, and the window moves on."""
    group = meters(conn, 21)
    for i, m in enumerate(group[:20]):
        submit(
            conn,
            ann,
            pl,
            ZONE,
            "disconnect",
            [m],
            source_address=LOCAL,
            now=NOW + timedelta(minutes=i),
        )
    with pytest.raises(SafeguardRefused) as refused:
        submit(
            conn,
            ann,
            pl,
            ZONE,
            "disconnect",
            [group[20]],
            source_address=LOCAL,
            now=NOW + timedelta(minutes=30),
        )
    assert refused.value.rule == "user_limit"
    assert any("user_limit" in e for e in events(conn))
    submit(
        conn,
        bob,
        pl,
        ZONE,
        "disconnect",
        [group[20]],
        source_address=LOCAL,
        now=NOW + timedelta(minutes=30),
    )
    later = NOW + timedelta(minutes=61)
    submit(conn, ann, pl, ZONE, "disconnect", [group[0]], source_address=LOCAL, now=later)


def test_sec6_overall_limit_across_users(conn: Connection, pl: Profile) -> None:
    """PL: 200 per 60 min overall, whoever orders them; bulk requests count every point."""
    group = meters(conn, 201)
    staff = [person(f"clerk{i}", Role.SERVICE) for i in range(11)]
    approver = person("boss", Role.SERVICE)
    for i, clerk in enumerate(staff[:10]):
        batch = group[i * 20 : (i + 1) * 20]
        done = submit(conn, clerk, pl, ZONE, "disconnect", batch, source_address=LOCAL, now=NOW)
        approve(conn, approver, ZONE, done.request_id, source_address=LOCAL, now=NOW)
    with pytest.raises(SafeguardRefused) as refused:
        submit(conn, staff[10], pl, ZONE, "disconnect", group[200:], source_address=LOCAL, now=NOW)
    assert refused.value.rule == "total_limit"


def test_sec6_emergency_mode_lifts_limits_only_with_two_approvals_and_a_reason(
    conn: Connection, pl: Profile
) -> None:
    """Rationing: beyond the limits only in emergency mode, with a reason and two approvers
    other than the requester; one approval is not enough."""
    group = meters(conn, 25)
    with pytest.raises(SafeguardRefused) as blind:
        submit(
            conn, ann, pl, ZONE, "disconnect", group, source_address=LOCAL, emergency=True, now=NOW
        )
    assert blind.value.rule == "emergency_reason"
    done = submit(
        conn,
        ann,
        pl,
        ZONE,
        "disconnect",
        group,
        source_address=LOCAL,
        emergency=True,
        reason="TSO rationing order 17/2025",
        now=NOW,
    )
    assert done.approvals_required == pl.disconnection.emergency_approvals == 2
    approve(conn, bob, ZONE, done.request_id, source_address=LOCAL, now=NOW)
    assert set(status_of(conn, done.command_ids)) == {"received"}
    approve(conn, cid_, ZONE, done.request_id, source_address=LOCAL, now=NOW)
    assert set(status_of(conn, done.command_ids)) == {"queued"}


# ------------------------------------------------------------------------- zone and SEC-10


def test_sec6_breaker_and_firmware_only_from_the_controlled_zone(
    conn: Connection, pl: Profile
) -> None:
    """Breaker and firmware requests from outside the listed networks are refused as alarms;
    other commands are not bound to the zone; no zone configured allows none."""
    (m,) = meters(conn, 1)
    for kind, actor in (("disconnect", ann), ("connect", ann), ("firmware_update", admin)):
        with pytest.raises(SafeguardRefused) as refused:
            submit(conn, actor, pl, ZONE, kind, [m], source_address="198.51.100.9", now=NOW)
        assert refused.value.rule == "zone"
    with pytest.raises(SafeguardRefused):
        submit(conn, ann, pl, CommandPolicy(), "disconnect", [m], source_address=LOCAL, now=NOW)
    submit(conn, ann, pl, ZONE, "time_sync", [m], source_address="198.51.100.9", now=NOW)


def test_sec10_functions_deactivated_by_profile_installation_or_meter_are_refused(
    conn: Connection, pl: Profile
) -> None:
    """SEC-10: a kind the profile deactivates, one this installation switched off, and a tariff
    calendar to a meter configured without time-of-use are refused (and nothing is stored)."""
    from dataclasses import replace

    (plain,) = meters(conn, 1, tou_capable=False)
    throttled = replace(pl, commands=replace(pl.commands, disabled_kinds=("power_limit",)))
    with pytest.raises(SafeguardRefused) as by_profile:
        submit(
            conn,
            ann,
            throttled,
            ZONE,
            "power_limit",
            [plain],
            params={"watts": 1},
            source_address=LOCAL,
            now=NOW,
        )
    policy = CommandPolicy(ZONE.controlled_zones, frozenset({"han_open"}))
    with pytest.raises(SafeguardRefused) as by_installation:
        submit(conn, ann, pl, policy, "han_open", [plain], source_address=LOCAL, now=NOW)
    with pytest.raises(SafeguardRefused) as by_meter:
        submit(conn, admin, pl, ZONE, "activity_calendar", [plain], source_address=LOCAL, now=NOW)
    assert {by_profile.value.rule, by_installation.value.rule, by_meter.value.rule} == {"disabled"}
    assert commands.listing(conn, meter_id=plain) == []


# ------------------------------------------------------------------------- prepayment (PRE-4)


def test_pre4_prepayment_disconnection_waits_for_the_next_allowed_time(
    conn: Connection, ua: Profile
) -> None:
    """UA: no prepayment disconnection in the evening, at night, at weekends or on holidays; a
    request made on Friday evening waits until Monday morning's window opens."""
    (m,) = meters(conn, 1)
    friday_evening = datetime(2025, 3, 14, 19, 0, tzinfo=KYIV)
    allowed = next_disconnection_time(ua, friday_evening)
    assert allowed.astimezone(KYIV).date() == date(2025, 3, 17)  # Monday
    done = submit(
        conn,
        ann,
        ua,
        ZONE,
        "disconnect",
        [m],
        source_address=LOCAL,
        prepayment=True,
        source="hub",
        now=friday_evening,
    )
    cmd = commands.get(conn, done.command_ids[0])
    assert cmd.not_before == allowed
    assert commands.due(conn, friday_evening + timedelta(days=1)) == []
    assert [c.id for c in commands.due(conn, allowed)] == [cmd.id]
    # The deadline counts from the allowed time, not from the evening it was asked.
    assert cmd.deadline is not None and cmd.deadline > allowed


def test_pre1_credit_transfer_priority_one_meter_and_transfer_id(
    conn: Connection, pl: Profile
) -> None:
    """PRE-1, CMD-4: a credit transfer is normal priority, high (24 h) when it restores a
    disconnected supply; it carries the request id as its transfer id; it goes to one meter;
    the same request id with another amount is refused; the service role may not send one."""
    boss = person("boss", Role.ADMINISTRATOR)
    a, b = meters(conn, 2)
    plain = submit(
        conn,
        boss,
        pl,
        ZONE,
        "credit_transfer",
        [a],
        params={"amount": 100},
        source_address=None,
        now=NOW,
    )
    (cmd,) = [commands.get(conn, i) for i in plain.command_ids]
    assert cmd.priority == Priority.NORMAL and cmd.params is not None
    assert cmd.params["transfer_id"] == str(plain.request_id)
    urgent = submit(
        conn,
        boss,
        pl,
        ZONE,
        "credit_transfer",
        [b],
        params={"amount": 100, "restores_supply": True},
        source_address=None,
        now=NOW,
    )
    (hot,) = [commands.get(conn, i) for i in urgent.command_ids]
    assert hot.priority == Priority.HIGH and hot.deadline == NOW + timedelta(hours=24)
    with pytest.raises(SafeguardRefused) as two:
        submit(
            conn,
            boss,
            pl,
            ZONE,
            "credit_transfer",
            [a, b],
            params={"amount": 1},
            source_address=None,
            now=NOW,
        )
    assert two.value.rule == "credit_transfer"
    with pytest.raises(SafeguardRefused) as other:
        submit(
            conn,
            boss,
            pl,
            ZONE,
            "credit_transfer",
            [a],
            params={"amount": 999},
            request_id=plain.request_id,
            source_address=None,
            now=NOW,
        )
    assert other.value.rule == "request_id"
    with pytest.raises(SafeguardRefused) as denied:
        submit(
            conn,
            person("sam", Role.SERVICE),
            pl,
            ZONE,
            "credit_transfer",
            [a],
            params={"amount": 1},
            source_address=None,
            now=NOW,
        )
    assert denied.value.rule == "permission"
