"""Supply control of one meter: the disconnector, the limiter and prepayment (MTR-6, CMD-2, PRE-4).

The disconnector follows the Blue Book's state machine (:mod:`metra.dlms.cosem.disconnect`):
remote triggers are the Disconnect control methods, manual ones the customer's push button,
local ones the meter's own functions -- the limiter and an exhausted prepayment credit disconnect
locally, and in control modes 5 and 6 reconnect locally when the cause is gone. While the
disconnector is open, nothing is measured: :meth:`MeasurementModel.cut_supply` keeps that energy
out of every register and profile.

The limiter watches the last complete 15-minute average demand (Demand register 1-0:1.4.0.255,
attribute 3) against ``threshold_active``: the normal threshold, or the emergency one while an
emergency profile is active (its id is in ``emergency_profile_group_id_list`` and the time lies
in its activation window). Over the threshold for ``min_over_threshold_duration`` it opens the
relay (local disconnect), journaled with the demand and the threshold that tripped it.

A virtual meter is lazy: :meth:`Supply.settle` replays, period by period, what the limiter and
the credit would have done since the last request, before any request is answered, so nothing a
client can observe depends on when it asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from metra.dlms.cosem.disconnect import allowed_transition
from metra.dlms.cosem.enums import ControlMode, ControlState, DisconnectTrigger
from metra.dlms.cosem.monitoring import EmergencyProfile

from .journal import EventCode, Log
from .measurement import SLOT, Quantity

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["PRICE_PER_KWH", "Supply"]

#: Price per kWh in the balance's minor unit, when the balance is money.
PRICE_PER_KWH = 80
_CODES = {
    DisconnectTrigger.REMOTE_DISCONNECT: EventCode.REMOTE_DISCONNECTION,
    DisconnectTrigger.REMOTE_RECONNECT: EventCode.REMOTE_CONNECTION,
    DisconnectTrigger.MANUAL_DISCONNECT: EventCode.MANUAL_DISCONNECTION,
    DisconnectTrigger.MANUAL_RECONNECT: EventCode.MANUAL_CONNECTION,
    DisconnectTrigger.LOCAL_DISCONNECT: EventCode.LOCAL_DISCONNECTION,
    DisconnectTrigger.LOCAL_RECONNECT: EventCode.LOCAL_RECONNECTION,
}


@dataclass(slots=True)
class Supply:
    """Disconnector, limiter and prepayment state of one meter."""

    meter: VirtualMeter
    settled: datetime
    relay: ControlState = ControlState.CONNECTED
    control_mode: ControlMode = ControlMode.MODE_4
    #: Limiter thresholds (W, 0 = off) and durations (s, whole 15-minute periods).
    threshold_normal: int = 0
    threshold_emergency: int = 0
    min_over: int = 900
    min_under: int = 900
    emergency_profile: EmergencyProfile | None = None
    emergency_group_ids: tuple[int, ...] = ()
    #: The contacts' physical position (``output_state``); follows ``relay`` unless stuck.
    contacts_closed: bool = True
    #: Stuck (welded) contacts: the control state still moves, the contacts do not.
    stuck: bool = False
    #: Why the relay is open: "limiter", "credit" or None (remote or manual).
    opened_by: str | None = None
    prepayment: bool = False
    credit_added: int = 0
    prepay_base: int = 0
    _over: int = 0
    _under: int = 0

    # ------------------------------------------------------------------ disconnector

    def move(self, trigger: DisconnectTrigger, when: datetime, detail: str = "") -> bool:
        """Move the disconnector as ``trigger`` asks, if the control mode allows it; journaled.
        Opening cuts the supply from ``when``, closing restores it."""
        target = allowed_transition(self.control_mode, self.relay, trigger)
        journals = self.meter.journals
        if target is None:
            if trigger in (DisconnectTrigger.REMOTE_DISCONNECT, DisconnectTrigger.REMOTE_RECONNECT):
                journals.add(
                    Log.DISCONNECTOR, when, EventCode.DISCONNECT_RECONNECT_FAILURE, trigger.name
                )
            return False
        was_on = self.relay is ControlState.CONNECTED
        self.relay = target
        on = target is ControlState.CONNECTED
        if on and not was_on:
            self.opened_by = None
        journals.add(Log.DISCONNECTOR, when, _CODES[trigger], detail or int(target))
        self._drive(on, trigger, when)
        return True

    def _drive(self, close: bool, trigger: DisconnectTrigger, when: datetime) -> None:
        """Drive the contacts to match the control state. Stuck (welded) contacts do not move:
        the meter sees it on its load-side voltage, journals a disconnect/reconnect failure (68)
        and keeps ``output_state`` true to the contacts, while energy goes on being measured."""
        if close == self.contacts_closed:
            return
        if self.stuck:
            position = "closed" if self.contacts_closed else "open"
            self.meter.journals.add(
                Log.DISCONNECTOR,
                when,
                EventCode.DISCONNECT_RECONNECT_FAILURE,
                f"{trigger.name} contacts stuck {position}",
            )
            return
        self.contacts_closed = close
        if close:
            self.meter.model.restore_supply(when)
        else:
            self.meter.model.cut_supply(when)

    def press_button(self, when: datetime) -> bool:
        """The customer's push button: reconnect when ready for reconnection, else (modes 1, 2
        and 5) disconnect. Returns whether the relay moved."""
        if self.relay is ControlState.READY_FOR_RECONNECTION:
            return self.move(DisconnectTrigger.MANUAL_RECONNECT, when)
        if self.relay is ControlState.CONNECTED:
            return self.move(DisconnectTrigger.MANUAL_DISCONNECT, when)
        return False

    # ------------------------------------------------------------------ limiter

    def emergency_active(self, when: datetime) -> bool:
        """Is the emergency profile in force at ``when``?"""
        profile = self.emergency_profile
        if profile is None or profile.emergency_profile_id not in self.emergency_group_ids:
            return False
        try:
            start = profile.emergency_activation_time.to_datetime()
        except ValueError:
            return False
        if start.tzinfo is None:
            start = start.replace(tzinfo=self.meter.zone)
        return start <= when < start + timedelta(seconds=profile.emergency_duration)

    def threshold(self, when: datetime) -> int:
        """``threshold_active`` at ``when`` (W; 0 when the limiter is off)."""
        if self.emergency_active(when):
            return self.threshold_emergency
        return self.threshold_normal

    def _limit(self, end: datetime, demand: int) -> bool:
        """The limiter's look at the period ending at ``end``; True when the relay moved."""
        threshold = self.threshold(end)
        if not threshold:
            self._over = self._under = 0
            return False
        if self.relay is ControlState.CONNECTED:
            self._over = self._over + 1 if demand > threshold else 0
            if self._over * 900 >= max(self.min_over, 900):
                self._over = 0
                kind = "emergency" if self.emergency_active(end) else "normal"
                detail = f"{demand} W > {threshold} W ({kind})"
                self.meter.journals.add(
                    Log.DISCONNECTOR, end, EventCode.LIMITER_THRESHOLD_EXCEEDED, detail
                )
                if self.move(DisconnectTrigger.LOCAL_DISCONNECT, end, "limiter"):
                    self.opened_by = "limiter"
                    return True
            return False
        if self.opened_by == "limiter":
            self._under = self._under + 1 if demand <= threshold else 0
            if self._under * 900 >= max(self.min_under, 900):
                self._under = 0
                self.opened_by = "limiter-ok"
                self.meter.journals.add(Log.DISCONNECTOR, end, EventCode.LIMITER_THRESHOLD_OK)
                return self.move(DisconnectTrigger.LOCAL_RECONNECT, end, "limiter")
        return False

    # ------------------------------------------------------------------ prepayment

    def cost(self, used_wh: int) -> int:
        """What ``used_wh`` costs in the balance's unit (Wh, or minor units of money)."""
        if self.meter.profile.prepayment.balance_unit == "kWh":
            return used_wh
        return used_wh * PRICE_PER_KWH // 1000

    def balance(self, when: datetime) -> int:
        """Credit added minus consumption since prepayment was switched on."""
        used = self.meter.model.register(Quantity.A_PLUS, when) - self.prepay_base
        return self.credit_added - self.cost(used)

    def add_credit(self, amount: int, when: datetime, detail: str = "") -> None:
        """Credit added by command (PRE-4); in modes 5 and 6 a credit cut reconnects itself.
        Journaled with ``detail`` (e.g. the transfer id), or the amount alone."""
        self.credit_added += amount
        self.meter.journals.add(Log.STANDARD, when, EventCode.CREDIT_ADDED, detail or amount)
        if self.opened_by == "credit" and self.balance(when) > 0:
            self.move(DisconnectTrigger.LOCAL_RECONNECT, when, "credit")

    def set_prepayment(self, on: bool, when: datetime) -> None:
        if on and not self.prepayment:
            self.prepay_base = self.meter.model.register(Quantity.A_PLUS, when)
        self.prepayment = on

    def _credit(self, end: datetime, used: int) -> bool:
        if not self.prepayment or self.relay is not ControlState.CONNECTED:
            return False
        balance = self.credit_added - self.cost(used - self.prepay_base)
        if balance > 0:
            return False
        self.meter.journals.add(Log.DISCONNECTOR, end, EventCode.CREDIT_EXHAUSTED, balance)
        if self.move(DisconnectTrigger.LOCAL_DISCONNECT, end, "credit"):
            self.opened_by = "credit"
            return True
        return False

    # ------------------------------------------------------------------ settling

    def settle(self, now: datetime) -> None:
        """Replay the limiter and the credit over every 15-minute period completed since the
        last call, in order; after a relay move the periods that follow are recomputed."""
        model = self.meter.model
        watching = self.threshold_normal or self.threshold_emergency or self.prepayment
        if not watching or now <= self.settled:
            self.settled = max(self.settled, now)
            return
        origin = model.day_start(0)
        start = origin + SLOT * ((self.settled - origin) // SLOT)
        while start + SLOT <= now:
            used = model.register(Quantity.A_PLUS, start)
            moved = False
            for iv in model.intervals(start, now):
                used += iv.energy[Quantity.A_PLUS]
                demand = iv.energy[Quantity.A_PLUS] * 4
                moved = self._limit(iv.end, demand) or self._credit(iv.end, used)
                start = iv.end
                if moved:
                    break
            if not moved:
                break
        self.settled = now
