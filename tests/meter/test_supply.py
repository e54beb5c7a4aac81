"""Disconnector, limiter with emergency profile, prepayment and watchdog, driven through the DLMS
client (``metra.dlms.client``) against a virtual meter's server association.

Proves: MTR-6 (relay open = nothing measured, sums stay exact), CMD-2 (control modes 0..6:
remote, manual and local triggers as the Blue Book's Disconnect control state diagram gives
them), CMD-7 (limiter thresholds, emergency profile by group id and time window, actions over
threshold journaled), PRE-1/PRE-4 (credit exhausted disconnects locally, credit and the button
reconnect), EVT-1 (watchdog resets journaled and flagged in the load profile).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from meter.test_meter import A_PLUS, CLOCK, DISCONNECT, LP, Session, make_meter

from metra.dlms.data import (
    Array,
    Data,
    DoubleLong,
    DoubleLongUnsigned,
    Enum,
    Integer,
    LongUnsigned,
    OctetString,
    Structure,
)
from metra.dlms.xdlms.common import ActionResult, DataAccessResult, SelectiveAccess
from metra.meter.faults import FaultRates, MeterFaults
from metra.meter.journal import EventCode, Log
from metra.meter.meter import VirtualMeter

LIMITER = bytes.fromhex("0000110000ff")
CREDIT = bytes.fromhex("0000130a00ff")
DAILY = bytes.fromhex("0000620200ff")
WATCHDOG_LOG = bytes.fromhex("0000636209ff")
P_IMPORT = bytes.fromhex("0100010700ff")
VOLTAGE_L1 = bytes.fromhex("0100200700ff")
CURRENT_L1 = bytes.fromhex("01001f0700ff")
CONNECTED, DISCONNECTED, READY = Enum(1), Enum(0), Enum(2)


def window(meter: VirtualMeter, start: datetime, end: datetime) -> SelectiveAccess:
    return SelectiveAccess(
        1,
        Structure(
            [
                Structure([LongUnsigned(8), OctetString(CLOCK), Integer(2), LongUnsigned(0)]),
                meter.local(start),
                meter.local(end),
                Array([]),
            ]
        ),
    )


def stamp(meter: VirtualMeter, row: Data) -> datetime:
    from metra.meter.buffers import to_time

    return to_time(meter, row[0])  # type: ignore[index]


def codes(meter: VirtualMeter, log: Log) -> list[int]:
    return [e.code for e in meter.journals.entries(log, meter.now())]


def test_mtr6_open_relay_measures_nothing_and_every_sum_stays_exact() -> None:
    meter = make_meter()
    mgmt, reading = Session(meter, 1), Session(meter, 2)
    day_start = (
        meter.now().astimezone(meter.zone).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    assert mgmt.act(70, DISCONNECT, 1, Integer(0)) == ActionResult.SUCCESS
    opened = meter.now()
    assert (
        reading.get(70, DISCONNECT, 2) is False and reading.get(70, DISCONNECT, 3) == DISCONNECTED
    )
    stopped = reading.get(3, A_PLUS, 2)
    meter.fleet_clock.advance(timedelta(hours=5))
    # Registers stop; nothing flows, the grid-side voltage is still measured.
    assert reading.get(3, A_PLUS, 2) == stopped
    assert reading.get(3, P_IMPORT, 2) == DoubleLong(0)
    assert reading.get(3, CURRENT_L1, 2) == DoubleLong(0)
    assert int(reading.get(3, VOLTAGE_L1, 2)) > 2000  # type: ignore[call-overload]
    assert mgmt.act(70, DISCONNECT, 2, Integer(0)) == ActionResult.SUCCESS  # mode 4: (a)
    closed = meter.now()
    assert reading.get(70, DISCONNECT, 3) == CONNECTED
    meter.fleet_clock.advance(timedelta(days=1))
    # Profile intervals inside the open window are zero in every energy column.
    rows = reading.get(7, LP, 2, window(meter, opened - timedelta(hours=1), closed))
    assert isinstance(rows, Array)
    inside = [r for r in rows if opened + timedelta(minutes=15) <= stamp(meter, r) <= closed]
    assert len(inside) >= 18 and all(int(v) == 0 for r in inside for v in r[2:])  # type: ignore[index, union-attr]
    before = [r for r in rows if stamp(meter, r) <= opened]
    assert any(int(r[2]) > 0 for r in before)  # type: ignore[index]
    # The day's profile sums exactly to the billing registers' advance; tariffs sum to total.
    day_end = day_start + timedelta(days=1)
    profile = reading.get(7, LP, 2, window(meter, day_start, day_end))
    billing = reading.get(7, DAILY, 2, window(meter, day_start, day_end))
    assert isinstance(profile, Array) and isinstance(billing, Array) and len(billing) == 2
    a_plus = sum(int(r[2]) for r in profile[1:])  # type: ignore[index]
    assert a_plus == int(billing[1][1]) - int(billing[0][1])  # type: ignore[index]
    for row in billing:
        assert sum(int(v) for v in row[2:6]) == int(row[1])  # type: ignore[index]
    tariffs = [reading.get(3, bytes((1, 0, 1, 8, z, 255)), 2) for z in (1, 2, 3, 4)]
    assert sum(int(t) for t in tariffs) == int(reading.get(3, A_PLUS, 2))  # type: ignore[call-overload]


#: Blue Book, Disconnect control: the transitions each control mode allows, as scenarios
#: (mode, starting action, trigger, expected control_state afterwards).
MODES = [
    # remote reconnect from disconnected: straight to connected (a) or ready (d)
    (1, "remote-reconnect", READY),
    (2, "remote-reconnect", CONNECTED),
    (3, "remote-reconnect", READY),
    (4, "remote-reconnect", CONNECTED),
    (5, "remote-reconnect", READY),
    (6, "remote-reconnect", READY),
    # the button while connected: manual disconnect (f) only in modes 1, 2 and 5
    (1, "button", READY),
    (2, "button", READY),
    (3, "button", CONNECTED),
    (4, "button", CONNECTED),
    (5, "button", READY),
    (6, "button", CONNECTED),
]


@pytest.mark.parametrize(("mode", "trigger", "expected"), MODES)
def test_cmd2_control_modes_remote_manual_and_local(
    mode: int, trigger: str, expected: Enum
) -> None:
    meter = make_meter()
    mgmt = Session(meter, 1)
    assert mgmt.set(70, DISCONNECT, 4, Enum(mode)) == DataAccessResult.SUCCESS
    if trigger == "remote-reconnect":
        assert mgmt.act(70, DISCONNECT, 1, Integer(0)) == ActionResult.SUCCESS  # (b)
        assert mgmt.act(70, DISCONNECT, 2, Integer(0)) == ActionResult.SUCCESS
        assert mgmt.get(70, DISCONNECT, 3) == expected
        if expected == READY:
            # Ready for reconnection: the supply stays off until the customer presses (e).
            assert mgmt.get(70, DISCONNECT, 2) is False
            assert meter.press_button()
            assert mgmt.get(70, DISCONNECT, 3) == CONNECTED
            assert EventCode.MANUAL_CONNECTION in codes(meter, Log.DISCONNECTOR)
    else:
        meter.press_button()
        assert mgmt.get(70, DISCONNECT, 3) == expected
        if expected == READY:
            assert EventCode.MANUAL_DISCONNECTION in codes(meter, Log.DISCONNECTOR)


def test_cmd2_mode_0_refuses_every_remote_command_and_journals_the_failure() -> None:
    meter = make_meter()
    mgmt = Session(meter, 1)
    assert mgmt.set(70, DISCONNECT, 4, Enum(0)) == DataAccessResult.SUCCESS
    assert mgmt.act(70, DISCONNECT, 1, Integer(0)) == ActionResult.OTHER_REASON
    assert mgmt.get(70, DISCONNECT, 3) == CONNECTED and not meter.press_button()
    assert EventCode.DISCONNECT_RECONNECT_FAILURE in codes(meter, Log.DISCONNECTOR)
    assert mgmt.act(70, DISCONNECT, 1, Integer(5)) == ActionResult.TYPE_UNMATCHED


def _emergency(meter: VirtualMeter, profile_id: int, start: datetime, seconds: int) -> Structure:
    return Structure([LongUnsigned(profile_id), meter.local(start), DoubleLongUnsigned(seconds)])


@pytest.mark.parametrize("member", [True, False])
def test_cmd7_emergency_threshold_applies_only_inside_the_profile_window(member: bool) -> None:
    meter = make_meter()
    mgmt, reading = Session(meter, 1), Session(meter, 2)
    start = meter.now() + timedelta(minutes=30)
    assert mgmt.set(71, LIMITER, 4, DoubleLongUnsigned(10**7)) == DataAccessResult.SUCCESS
    assert mgmt.set(71, LIMITER, 5, DoubleLongUnsigned(1)) == DataAccessResult.SUCCESS
    assert mgmt.set(71, LIMITER, 8, _emergency(meter, 7, start, 3600)) == DataAccessResult.SUCCESS
    group = Array([LongUnsigned(7 if member else 8), LongUnsigned(9)])
    assert mgmt.set(71, LIMITER, 9, group) == DataAccessResult.SUCCESS
    assert reading.get(71, LIMITER, 8) == _emergency(meter, 7, start, 3600)
    assert reading.get(71, LIMITER, 10) is False
    assert reading.get(71, LIMITER, 3) == DoubleLongUnsigned(10**7)
    meter.fleet_clock.advance(timedelta(minutes=25))
    assert reading.get(70, DISCONNECT, 3) == CONNECTED  # under the normal threshold
    meter.fleet_clock.advance(timedelta(minutes=35))
    assert reading.get(71, LIMITER, 10) is member
    if member:
        assert reading.get(71, LIMITER, 3) == DoubleLongUnsigned(1)
        assert reading.get(70, DISCONNECT, 3) == READY  # local disconnect (g)
        tripped = [
            e
            for e in meter.journals.entries(Log.DISCONNECTOR, meter.now())
            if e.code == EventCode.LIMITER_THRESHOLD_EXCEEDED
        ]
        assert len(tripped) == 1 and "emergency" in str(tripped[0].detail)
        assert start <= tripped[0].when <= start + timedelta(minutes=30)
    else:
        assert reading.get(70, DISCONNECT, 3) == CONNECTED
        assert EventCode.LIMITER_THRESHOLD_EXCEEDED not in codes(meter, Log.DISCONNECTOR)
    meter.fleet_clock.advance(timedelta(hours=2))
    assert reading.get(71, LIMITER, 10) is False


def test_cmd7_limiter_in_mode_5_reconnects_locally_when_demand_is_back_under() -> None:
    meter = make_meter()
    mgmt = Session(meter, 1)
    assert mgmt.set(70, DISCONNECT, 4, Enum(5)) == DataAccessResult.SUCCESS
    assert mgmt.set(71, LIMITER, 4, DoubleLongUnsigned(1)) == DataAccessResult.SUCCESS
    assert mgmt.set(71, LIMITER, 6, DoubleLongUnsigned(1000)) == DataAccessResult.OTHER_REASON
    meter.fleet_clock.advance(timedelta(minutes=50))
    assert mgmt.get(70, DISCONNECT, 3) == READY
    # over (65) -> local disconnect (64) -> under (66) -> local reconnect (69) -> over again
    assert codes(meter, Log.DISCONNECTOR)[:6] == [65, 64, 66, 69, 65, 64]
    assert mgmt.get(71, LIMITER, 11) == Structure(
        [
            Structure([OctetString(bytes.fromhex("00000a006aff")), LongUnsigned(1)]),
            Structure([OctetString(bytes.fromhex("00000a006aff")), LongUnsigned(2)]),
        ]
    )


def test_pre4_credit_runs_out_between_reads_and_the_button_reconnects() -> None:
    meter = make_meter()
    mgmt, reading = Session(meter, 1), Session(meter, 2)
    assert mgmt.act(112, CREDIT, 1, DoubleLong(500)) == ActionResult.SUCCESS
    assert mgmt.set(112, CREDIT, 10, True) == DataAccessResult.SUCCESS
    assert reading.get(112, CREDIT, 2) == DoubleLong(500)
    meter.fleet_clock.advance(timedelta(days=4))
    # The credit ran out days ago: the relay opened then (local disconnect), not at this read.
    assert reading.get(70, DISCONNECT, 3) == READY
    cut = [
        e
        for e in meter.journals.entries(Log.DISCONNECTOR, meter.now())
        if e.code == EventCode.LOCAL_DISCONNECTION
    ]
    assert cut and cut[0].when < meter.now() - timedelta(days=2)
    assert EventCode.CREDIT_EXHAUSTED in codes(meter, Log.DISCONNECTOR)
    billing = reading.get(7, DAILY, 2)
    assert isinstance(billing, Array)
    assert int(billing[-1][1]) == int(billing[-2][1])  # type: ignore[index]  # nothing measured
    assert mgmt.act(112, CREDIT, 1, DoubleLong(10**6)) == ActionResult.SUCCESS
    assert reading.get(70, DISCONNECT, 3) == READY  # mode 4: no local reconnect (h)
    assert meter.press_button()
    assert reading.get(70, DISCONNECT, 3) == CONNECTED


def test_evt1_watchdog_resets_are_journaled_and_flag_their_interval() -> None:
    reset = datetime(2025, 3, 11, 16, 20, 30, tzinfo=UTC)
    meter = make_meter(faults=MeterFaults(watchdog_resets=(reset,)))
    reading = Session(meter, 2)
    log = reading.get(7, WATCHDOG_LOG, 2)
    assert isinstance(log, Array) and len(log) == 1
    assert stamp(meter, log[0]) == reset and log[0][1] == LongUnsigned(EventCode.WATCHDOG_RESET)  # type: ignore[index]
    rows = reading.get(
        7, LP, 2, window(meter, reset - timedelta(hours=1), reset + timedelta(hours=1))
    )
    assert isinstance(rows, Array)
    flagged = [stamp(meter, r) for r in rows if int(r[1]) & 0x04]  # type: ignore[index]
    assert flagged == [datetime(2025, 3, 11, 16, 30, tzinfo=UTC)]


def test_evt1_watchdog_rate_draws_resets_without_changing_other_faults() -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    base = FaultRates(outages_per_year=6, drop_probability=0.5, slow_probability=0.5)
    plain = MeterFaults.generate(base, 42, start, end)
    with_resets = MeterFaults.generate(
        FaultRates(**{**base.__dict__, "watchdog_resets_per_year": 12}), 42, start, end
    )
    assert plain.watchdog_resets == () and len(with_resets.watchdog_resets) >= 6
    assert with_resets.outages == plain.outages
    assert with_resets.drop_after_bytes == plain.drop_after_bytes


def test_mtr6_cmd2_welded_contacts_accept_the_command_but_the_supply_stays_on() -> None:
    """A stuck (welded) relay, as a real meter reports it: remote_disconnect succeeds and
    control_state reads disconnected (what was commanded), but output_state -- the contacts as
    the load-side voltage shows them -- stays true, the disconnector log has the remote
    disconnection followed by a disconnect/reconnect failure (68), and energy goes on being
    measured exactly as on the same meter never disconnected."""
    stuck = make_meter(faults=MeterFaults(stuck_relay=True))
    healthy = make_meter()
    mgmt = Session(stuck, 1)
    assert mgmt.act(70, DISCONNECT, 1, Integer(0)) == ActionResult.SUCCESS
    reading = Session(stuck, 2)
    assert reading.get(70, DISCONNECT, 3) == DISCONNECTED
    assert reading.get(70, DISCONNECT, 2) is True
    log = stuck.journals.entries(Log.DISCONNECTOR, stuck.now())
    assert [e.code for e in log] == [
        EventCode.REMOTE_DISCONNECTION,
        EventCode.DISCONNECT_RECONNECT_FAILURE,
    ]
    assert log[1].detail == "REMOTE_DISCONNECT contacts stuck closed"
    for meter in (stuck, healthy):
        meter.fleet_clock.advance(timedelta(hours=5))
    assert reading.get(3, A_PLUS, 2) == Session(healthy, 2).get(3, A_PLUS, 2)
    # Reconnecting matches control_state to the contacts again: no failure this time.
    assert mgmt.act(70, DISCONNECT, 2, Integer(0)) == ActionResult.SUCCESS
    assert codes(stuck, Log.DISCONNECTOR)[2:] == [EventCode.REMOTE_CONNECTION]


def test_mtr6_relay_stuck_open_at_runtime_keeps_the_supply_off() -> None:
    """``VirtualMeter.stick_relay()``: the contacts stick where they are (here open), so a
    reconnection is accepted and journaled as failed, output_state stays false and nothing is
    measured."""
    meter = make_meter()
    mgmt, reading = Session(meter, 1), Session(meter, 2)
    assert mgmt.act(70, DISCONNECT, 1, Integer(0)) == ActionResult.SUCCESS
    meter.stick_relay()
    stopped = reading.get(3, A_PLUS, 2)
    assert mgmt.act(70, DISCONNECT, 2, Integer(0)) == ActionResult.SUCCESS
    assert reading.get(70, DISCONNECT, 3) == CONNECTED
    assert reading.get(70, DISCONNECT, 2) is False
    assert codes(meter, Log.DISCONNECTOR)[-1] == EventCode.DISCONNECT_RECONNECT_FAILURE
    meter.fleet_clock.advance(timedelta(hours=3))
    assert reading.get(3, A_PLUS, 2) == stopped
    assert reading.get(3, P_IMPORT, 2) == DoubleLong(0)


def test_mtr6_stuck_relay_rate_draws_per_meter_without_changing_other_faults() -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    base = FaultRates(outages_per_year=6, drop_probability=0.5, watchdog_resets_per_year=3)
    plain = MeterFaults.generate(base, 42, start, end)
    always = FaultRates(**{**base.__dict__, "stuck_relay_probability": 1.0})
    stuck = MeterFaults.generate(always, 42, start, end)
    assert not plain.stuck_relay and stuck.stuck_relay
    assert stuck.outages == plain.outages and stuck.watchdog_resets == plain.watchdog_resets
    some = FaultRates(stuck_relay_probability=0.3)
    drawn = [MeterFaults.generate(some, seed, start, end).stuck_relay for seed in range(200)]
    assert drawn == [MeterFaults.generate(some, s, start, end).stuck_relay for s in range(200)]
    assert 30 <= sum(drawn) <= 90
    with pytest.raises(ValueError):
        FaultRates(stuck_relay_probability=1.5)
