"""One session with a meter: a single association that reads everything its plan names.

The session only talks and decodes; it writes nothing. What it has read so far is kept in a
`SessionData` owned by the caller, so when the meter drops the connection halfway the part
already read (say the first days of a backfill) is still stored and only the rest is fetched
again later (COL-8). Objects a meter does not have (a single-phase meter without L2 voltage, a
meter without a fraud log) are skipped, not failures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from metra.dlms.cosem import objects
from metra.dlms.data import Data
from metra.dlms.errors import DecodeError
from metra.dlms.obis import Obis
from metra.dlms.xdlms.common import DataAccessResult, SelectiveAccess
from metra.net.client import DlmsClient, range_access
from metra.net.errors import RequestRefused
from metra.store.events import MeterEvent
from metra.store.intervals import DayReading
from metra.store.power_quality import PowerQualityRecord
from metra.store.registers import BillingSnapshot, Period, RegisterReading

from . import decode
from .plans import SessionPlan

PROFILE_CLASS = 7
#: Span of one load-profile request: a day's rows fit a few blocks.
LOAD_PROFILE_CHUNK = timedelta(days=1)
REGISTER_CLASS = 3
#: Registers of the daily read (COL-2): A+, A-, R+, R-.
BILLING_REGISTERS = (
    objects.ACTIVE_ENERGY_IMPORT,
    objects.ACTIVE_ENERGY_EXPORT,
    objects.REACTIVE_ENERGY_IMPORT,
    objects.REACTIVE_ENERGY_EXPORT,
)
#: Instantaneous values read when the plan asks for them.
INSTANTANEOUS = (
    objects.ACTIVE_POWER_IMPORT,
    objects.ACTIVE_POWER_EXPORT,
    objects.VOLTAGE_L1,
    objects.CURRENT_L1,
)
#: Journals read daily (COL-5); the power-quality log belongs to the power-quality read.
#: The power-quality profile: "load profile with recording period 2" (IEC 62056-6-1), where
#: the meter records its power-quality values (voltage averages, minima, maxima...). Its columns
#: are read from the meter, not assumed; a meter without it is skipped.
POWER_QUALITY_PROFILE = Obis(1, 0, 99, 2, 0, 255)
JOURNALS = (
    objects.STANDARD_EVENT_LOG,
    objects.FRAUD_DETECTION_LOG,
    objects.DISCONNECTOR_CONTROL_LOG,
    objects.COMMUNICATION_EVENT_LOG,
)


@dataclass(frozen=True)
class Layout:
    """A profile's columns and capture period, cached per meter between sessions."""

    columns: tuple[decode.Column, ...]
    period_s: int


@dataclass
class SessionData:
    """What a session has read so far (kept even when the session fails later)."""

    meter_id: UUID
    started_at: datetime
    meter_time: datetime | None = None
    local_time: datetime | None = None
    days: list[DayReading] = field(default_factory=list)
    registers: list[RegisterReading] = field(default_factory=list)
    snapshots: list[BillingSnapshot] = field(default_factory=list)
    events: list[MeterEvent] = field(default_factory=list)
    power_quality: list[PowerQualityRecord] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def drift_s(self) -> float | None:
        """Meter clock minus head-end clock at the moment of the read, in seconds."""
        if self.meter_time is None or self.local_time is None:
            return None
        return (self.meter_time - self.local_time).total_seconds()


async def _layout(
    client: DlmsClient, profile: Obis, cache: dict[tuple[UUID, str], Layout], meter_id: UUID
) -> Layout:
    key = (meter_id, str(profile))
    cached = cache.get(key)
    if cached is not None:
        return cached
    ln = profile.to_bytes()
    captures = decode.capture_objects(await client.get(PROFILE_CLASS, ln, 3))
    period = await client.get(PROFILE_CLASS, ln, 4)
    if isinstance(period, bool) or not isinstance(period, int):
        raise DecodeError("capture_period must be an integer")
    values = [c for c in captures if decode.column_role(c) == "value"]
    wanted: list[tuple[int, bytes, int, SelectiveAccess | None]] = [
        (c.class_id, c.logical_name, 3, None) for c in values
    ]
    scalings = await client.get_many(wanted) if wanted else []
    by_ln: dict[bytes, decode.ScalerUnit] = {}
    for capture, scaling in zip(values, scalings, strict=True):
        if not isinstance(scaling, DataAccessResult):
            by_ln[capture.logical_name] = decode.ScalerUnit.from_data(scaling)
    columns = tuple(
        decode.Column(c, decode.column_role(c), by_ln.get(c.logical_name, decode.ScalerUnit()))
        for c in captures
    )
    layout = Layout(columns, int(period))
    cache[key] = layout
    return layout


async def _profile_rows(
    client: DlmsClient,
    profile: Obis,
    span: tuple[datetime, datetime],
    cache: dict[tuple[UUID, str], Layout],
    meter_id: UUID,
) -> tuple[Layout, list[decode.ProfileRow]]:
    layout = await _layout(client, profile, cache, meter_id)
    buffer = await client.get(PROFILE_CLASS, profile.to_bytes(), 2, range_access(*span))
    return layout, decode.rows(buffer, layout.columns, layout.period_s)


_Item = tuple[int, bytes, int, SelectiveAccess | None]


def _register_items(registers: Sequence[Obis]) -> list[_Item]:
    return [(REGISTER_CLASS, r.to_bytes(), a, None) for r in registers for a in (2, 3)]


def _take_registers(
    meter_id: UUID,
    registers: Sequence[Obis],
    answers: Sequence[Data | DataAccessResult],
    data: SessionData,
) -> None:
    read_at = data.local_time or data.started_at
    captured = data.meter_time or read_at
    for i, obis in enumerate(registers):
        value, scaling = answers[2 * i], answers[2 * i + 1]
        if isinstance(value, DataAccessResult) or isinstance(scaling, DataAccessResult):
            data.skipped.append(str(obis))
            continue
        data.registers.append(
            decode.register(meter_id, obis, value, scaling, captured_at=captured, read_at=read_at)
        )


async def read(
    client: DlmsClient,
    plan: SessionPlan,
    data: SessionData,
    layouts: dict[tuple[UUID, str], Layout],
    now: Callable[[], datetime],
    *,
    source: str,
) -> None:
    """Read everything in `plan` over an open association, filling `data` as it goes."""
    meter = data.meter_id
    # Clock, billing and instantaneous registers in one get-with-list: every request costs a
    # round trip and a GCM operation on both sides, so a session asks as few as it can.
    registers = (BILLING_REGISTERS if plan.registers else ()) + (
        INSTANTANEOUS if plan.instantaneous else ()
    )
    items = ([(8, objects.CLOCK.to_bytes(), 2, None)] if plan.clock else []) + _register_items(
        registers
    )
    if items:
        answers = await client.get_many(items)
        if len(answers) != len(items):
            raise DecodeError("get-with-list answered a different number of items")
        if plan.clock:
            clock, answers = answers[0], answers[1:]
            if isinstance(clock, DataAccessResult):
                raise RequestRefused("get clock", clock)
            data.local_time = now()
            data.meter_time = decode.to_datetime(clock)
            data.done.append("clock")
        _take_registers(meter, registers, answers, data)
        if plan.registers:
            data.done.append("registers")
        if plan.instantaneous:
            data.done.append("instantaneous")
    if plan.load_profile is not None:
        # One request per day: a drop halfway through a long backfill keeps the days already
        # received, and the next session asks only for what is still missing (COL-8).
        start, end = plan.load_profile
        while start < end:
            chunk_end = min(start + LOAD_PROFILE_CHUNK, end)
            layout = await _layout(client, objects.LOAD_PROFILE_1, layouts, meter)
            ln = objects.LOAD_PROFILE_1.to_bytes()
            rows = await client.get(PROFILE_CLASS, ln, 2, range_access(start, chunk_end))
            data.days.extend(
                decode.load_profile_days(
                    meter,
                    rows,
                    layout.columns,
                    layout.period_s,
                    (start, chunk_end),
                    registered_at=now(),
                    source=source,
                )
            )
            start = chunk_end
        data.done.append("load_profile")
    for span, obis, period in (
        (plan.daily_billing, objects.BILLING_PROFILE_DAILY, Period.DAILY),
        (plan.monthly_billing, objects.BILLING_PROFILE_MONTHLY, Period.MONTHLY),
    ):
        if span is None:
            continue
        try:
            layout, billing = await _profile_rows(client, obis, span, layouts, meter)
        except RequestRefused:
            data.skipped.append(str(obis))
            continue
        data.snapshots.extend(
            decode.billing_snapshots(meter, billing, layout.columns, period, read_at=now())
        )
        data.done.append(f"billing_{period.name.lower()}")
    until = now()
    # Every journal due in one get-with-list, each with its own range.
    logs: list[tuple[Obis, datetime, datetime]] = []
    if plan.events_since is not None:
        logs += [(log, plan.events_since, until) for log in JOURNALS]
    if plan.power_quality is not None:
        logs.append((objects.POWER_QUALITY_EVENT_LOG, *plan.power_quality))
    if logs:
        wanted: list[_Item] = [
            (PROFILE_CLASS, log.to_bytes(), 2, range_access(since, end)) for log, since, end in logs
        ]
        buffers = await client.get_many(wanted)
        if len(buffers) != len(wanted):
            raise DecodeError("get-with-list answered a different number of items")
        for (log, _, _), buffer in zip(logs, buffers, strict=True):
            if isinstance(buffer, DataAccessResult):
                data.skipped.append(str(log))  # a meter without this log
                continue
            entries = decode.journal(meter, log, buffer, registered_at=until)
            data.events.extend(entries)
            if log == objects.POWER_QUALITY_EVENT_LOG:
                data.power_quality.extend(decode.power_quality_events(entries))
        if plan.events_since is not None:
            data.done.append("events")
        if plan.power_quality is not None:
            data.done.append("power_quality")
    if plan.power_quality is not None:
        try:
            layout, pq = await _profile_rows(
                client, POWER_QUALITY_PROFILE, plan.power_quality, layouts, meter
            )
        except RequestRefused:
            data.skipped.append(str(POWER_QUALITY_PROFILE))
        else:
            data.power_quality.extend(
                decode.power_quality_values(meter, pq, layout.columns, read_at=now())
            )
            data.done.append("power_quality_profile")
