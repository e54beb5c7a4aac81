"""Command delivery effectiveness (KPI-3) and command execution deadlines (CMD-4, S1 16.5-16.7).

Read from the store's `command` table as it is: a command was *received* at `created_at` (its
3-hour window starts then, or at `not_before` when it was ordered for later), and *delivered*
when it reached status `confirmed` (the meter's read-back), at `updated_at` (a final state is
never left, so that time stays). A `cancelled` command was revoked and counts for nothing; one
still waiting inside its window is *pending* and left out until the window closes; anything else
past its window without confirmation was not delivered.

KPI-3 counts the market hub's commands (S1 16.5, CMD-3): a command's origin is its request's
`source` (`command_request`); the operator's own commands, and rows queued without a request
(origin unknown), are judged for their deadline but do not enter the groups' figures.

KPI-3 is computed per group of at most `command_group_max_meters` (PL: 200) meters on one MV/LV
substation (S1 16.5): a substation's installed meters, sorted by serial, are cut into the fewest
groups of that size, of near-equal length, so a group is stable while the grid stays the same.
Meters without a substation in master data form one more group. A substation of another kind
(e.g. an MV customer fed from an HV/MV station) keeps its groups in the report, but the
indicator is not defined for them, so they are never judged met or missed (`Group.mv_lv`).

Deadlines (S1 16.6-16.7): a command of a kind the profile lists as high priority (PL: connect,
emergency power limit) must be executed within `high_priority_deadline_hours` of receipt; any
other within `normal_deadline_working_days` working days (ending 24:00 local time of the last
one, counted from the day after receipt with the profile's holiday calendar).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Connection, select

from metra.mdm.kpi.acquisition import local_day
from metra.mdm.kpi.population import Population, population
from metra.profiles import Profile, working_deadline
from metra.store.command_schema import command_detail, command_request
from metra.store.commands import Status
from metra.store.schema import command, substation_version

#: The substation kind KPI-3 groups are defined on (master data `substation.kind`).
MV_LV = "MV/LV"


class Delivery(StrEnum):
    """How a command fared against the delivery window."""

    DELIVERED = "delivered"
    LATE = "delivered late"
    NOT_DELIVERED = "not delivered"
    PENDING = "pending"
    CANCELLED = "cancelled"


class DeadlineState(StrEnum):
    """How a command fared against its execution deadline."""

    MET = "met"
    MISSED = "executed late"
    OVERDUE = "overdue"
    OPEN = "open"
    CANCELLED = "cancelled"


def is_high_priority(profile: Profile, kind: str) -> bool:
    """High priority is a matter of the command's kind (S1 16.7), not of the queue's ordering."""
    return kind in profile.commands.high_priority_kinds


def command_deadline(profile: Profile, kind: str, received_at: datetime) -> datetime:
    """When a command received at `received_at` must have been executed (S1 16.6)."""
    rules = profile.commands
    if is_high_priority(profile, kind):
        return received_at + timedelta(hours=rules.high_priority_deadline_hours)
    return working_deadline(profile, received_at, rules.normal_deadline_working_days)


@dataclass(frozen=True)
class Group:
    """Up to `command_group_max_meters` meters of one substation (indices into the population)."""

    label: str
    substation_id: UUID | None
    substation: str | None
    meters: tuple[int, ...]
    mv_lv: bool = True


def substation_kinds(conn: Connection, day: date) -> dict[UUID, str]:
    """Each substation's kind valid on `day` (else its first recorded kind, as the population
    takes attributes entered after the fact)."""
    t = substation_version
    query = select(t.c.entity_id, t.c.valid_from, t.c.kind).order_by(
        t.c.entity_id, t.c.valid_from, t.c.recorded_at, t.c.version_id
    )
    kinds: dict[UUID, str] = {}
    for entity, valid_from, kind in conn.execute(query):
        if entity not in kinds or valid_from <= day:
            kinds[entity] = kind
    return kinds


def substation_groups(
    pop: Population, max_meters: int, kinds: dict[UUID, str] | None = None
) -> list[Group]:
    """Cut each substation's meters (in serial order) into the fewest near-equal groups; with
    `kinds`, groups of a substation whose kind is not MV/LV are marked `mv_lv=False`."""
    members: dict[UUID | None, list[int]] = {}
    for i, substation_id in enumerate(pop.substation_ids):
        members.setdefault(substation_id, []).append(i)
    groups: list[Group] = []
    keyed = sorted(
        members.items(),
        key=lambda item: (item[0] is None, pop.substation_codes[item[1][0]] or "", str(item[0])),
    )
    for substation_id, meters in keyed:
        code = pop.substation_codes[meters[0]]
        kind = (kinds or {}).get(substation_id) if substation_id is not None else None
        mv_lv = kind is None or kind.replace(" ", "").upper() == MV_LV
        count = math.ceil(len(meters) / max_meters)
        for k in range(count):
            part = tuple(m for j, m in enumerate(meters) if j * count // len(meters) == k)
            name = code or "no substation"
            label = f"{name}/{k + 1}" if count > 1 else name
            groups.append(Group(label, substation_id, code, part, mv_lv))
    return groups


@dataclass(frozen=True)
class CommandOutcome:
    """One command received on the day, judged for delivery and for its deadline."""

    id: UUID
    meter_id: UUID
    kind: str
    status: str
    received_at: datetime
    delivered_at: datetime | None
    delivery: Delivery
    high_priority: bool
    deadline: datetime
    deadline_state: DeadlineState
    source: str | None = None


def judge(
    profile: Profile,
    *,
    kind: str,
    status: str,
    created_at: datetime,
    not_before: datetime | None,
    updated_at: datetime,
    as_of: datetime,
) -> tuple[datetime | None, Delivery, datetime, DeadlineState]:
    """Delivery and deadline verdicts of one command as it stood at `as_of`."""
    window = timedelta(hours=profile.kpi.command_delivery_hours)
    start = max(created_at, not_before) if not_before is not None else created_at
    due = command_deadline(profile, kind, created_at)
    delivered_at = updated_at if status == Status.CONFIRMED.value else None
    if status == Status.CANCELLED.value:
        return None, Delivery.CANCELLED, due, DeadlineState.CANCELLED
    if delivered_at is not None:
        delivery = Delivery.DELIVERED if delivered_at <= start + window else Delivery.LATE
        state = DeadlineState.MET if delivered_at <= due else DeadlineState.MISSED
        return delivered_at, delivery, due, state
    delivery = Delivery.PENDING if as_of < start + window else Delivery.NOT_DELIVERED
    state = DeadlineState.OPEN if as_of < due else DeadlineState.OVERDUE
    return None, delivery, due, state


@dataclass(frozen=True)
class GroupFigure:
    """KPI-3 of one group: commands counted (pending and cancelled left out) and delivered."""

    group: Group
    commands: int
    delivered: int
    pending: int
    below: tuple[CommandOutcome, ...]
    target_percent: float

    @property
    def percent(self) -> float | None:
        return 100.0 * self.delivered / self.commands if self.commands else None

    @property
    def met(self) -> bool | None:
        """None while commands are pending, there were none or the group is not on an MV/LV
        substation (the indicator is not defined there); else the share against target."""
        if self.pending or not self.commands or not self.group.mv_lv:
            return None
        return 100.0 * self.delivered >= self.target_percent * self.commands


@dataclass(frozen=True)
class CommandDelivery:
    """KPI-3 and the deadlines of the commands received on local day `day`."""

    day: date
    as_of: datetime
    hours: int
    target_percent: float
    groups: tuple[GroupFigure, ...]
    outcomes: tuple[CommandOutcome, ...]

    def late_for_deadline(self) -> tuple[CommandOutcome, ...]:
        """Commands executed after their deadline or still not executed past it."""
        return tuple(
            o
            for o in self.outcomes
            if o.deadline_state in (DeadlineState.MISSED, DeadlineState.OVERDUE)
        )


def command_delivery(
    conn: Connection,
    profile: Profile,
    day: date,
    *,
    as_of: datetime,
    pop: Population | None = None,
    source: str | None = "hub",
) -> CommandDelivery:
    """KPI-3 per substation group for the commands received on local day `day`.

    Every command of the day is judged for its deadline (`outcomes`); the groups count only
    those from `source` (the market hub; None counts every command).
    """
    pop = pop if pop is not None else population(conn, profile, day)
    start, end = local_day(profile, day)
    t = command
    query = (
        select(
            t.c.id,
            t.c.meter_id,
            t.c.kind,
            t.c.status,
            t.c.created_at,
            t.c.not_before,
            t.c.updated_at,
            command_request.c.source,
        )
        .select_from(
            t.outerjoin(command_detail, command_detail.c.command_id == t.c.id).outerjoin(
                command_request, command_request.c.id == command_detail.c.request_id
            )
        )
        .where(t.c.created_at >= start, t.c.created_at < end, t.c.created_at <= as_of)
        .order_by(t.c.created_at, t.c.id)
    )
    outcomes: list[CommandOutcome] = []
    for row in conn.execute(query):
        ident, meter_id, kind, status, created_at, not_before, updated_at, origin = row
        # A status set after `as_of` is not known then: the command was still on its way.
        known = status if updated_at <= as_of else Status.QUEUED.value
        delivered_at, delivery, due, state = judge(
            profile,
            kind=kind,
            status=known,
            created_at=created_at,
            not_before=not_before,
            updated_at=updated_at,
            as_of=as_of,
        )
        outcomes.append(
            CommandOutcome(
                ident,
                meter_id,
                kind,
                known,
                created_at,
                delivered_at,
                delivery,
                is_high_priority(profile, kind),
                due,
                state,
                origin,
            )
        )
    kinds = substation_kinds(conn, day)
    groups = substation_groups(pop, profile.kpi.command_group_max_meters, kinds)
    group_of = {pop.meter_ids[m]: g for g, group in enumerate(groups) for m in group.meters}
    per_group: dict[int, list[CommandOutcome]] = {}
    stray: list[CommandOutcome] = []
    for outcome in outcomes:
        if source is not None and outcome.source != source:
            continue
        g = group_of.get(outcome.meter_id)
        if g is None:
            stray.append(outcome)
        else:
            per_group.setdefault(g, []).append(outcome)
    figures = [_figure(group, per_group.get(g, []), profile) for g, group in enumerate(groups)]
    if stray:  # commands to meters not installed on the day: shown, never silently dropped
        figures.append(_figure(Group("not installed", None, None, ()), stray, profile))
    return CommandDelivery(
        day=day,
        as_of=as_of,
        hours=profile.kpi.command_delivery_hours,
        target_percent=profile.kpi.command_delivery_percent,
        groups=tuple(figures),
        outcomes=tuple(outcomes),
    )


def _figure(group: Group, outcomes: list[CommandOutcome], profile: Profile) -> GroupFigure:
    counted = [o for o in outcomes if o.delivery not in (Delivery.PENDING, Delivery.CANCELLED)]
    return GroupFigure(
        group=group,
        commands=len(counted),
        delivered=sum(1 for o in counted if o.delivery is Delivery.DELIVERED),
        pending=sum(1 for o in outcomes if o.delivery is Delivery.PENDING),
        below=tuple(o for o in counted if o.delivery is not Delivery.DELIVERED),
        target_percent=profile.kpi.command_delivery_percent,
    )
