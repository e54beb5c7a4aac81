"""Hypothesis strategies for the COSEM value structures (shared by round-trip and fuzz tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from metra.dlms.cosem.access import (
    AccessRights,
    AttributeAccess,
    AttributeAccessMode,
    MethodAccess,
    MethodAccessMode,
)
from metra.dlms.cosem.association import (
    AssociatedPartners,
    MechanismName,
    ObjectListElement,
    XDlmsContextInfo,
)
from metra.dlms.cosem.calendar import (
    DayProfile,
    DayProfileAction,
    SeasonProfile,
    SpecialDayEntry,
    WeekProfile,
)
from metra.dlms.cosem.enums import (
    KeyId,
    PushMessageType,
    ScriptServiceId,
    TransportService,
)
from metra.dlms.cosem.firmware import ImageBlock, ImageToActivateInfo, ImageTransferInitiate
from metra.dlms.cosem.monitoring import ActionSet, EmergencyProfile, LimiterActions
from metra.dlms.cosem.push import SendDestinationAndMethod, WindowElement
from metra.dlms.cosem.references import CaptureObjectDefinition, ScriptAction, ValueDefinition
from metra.dlms.cosem.scripts import ActionSpecification, ExecutionTime, Script
from metra.dlms.cosem.security import KeyData
from metra.dlms.cosem.units import ScalerUnit, Unit
from metra.dlms.data import Date, DateTime, LongUnsigned, OctetString, Time
from metra.dlms.obis import Obis

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
i8 = st.integers(-128, 127)
octets = st.binary(max_size=16)
obis = st.builds(Obis, u8, u8, u8, u8, u8, u8)
dates = st.builds(Date, u16, u8, u8, u8)
times = st.builds(Time, u8, u8, u8, u8)
date_times = st.builds(DateTime, u16, u8, u8, u8, u8, u8, u8, u8, st.integers(-0x8000, 0x7FFF), u8)
parameters = st.one_of(
    st.none(), st.builds(LongUnsigned, u16), st.builds(OctetString, octets), st.booleans()
)


def _tuples(strategy: st.SearchStrategy[Any], max_size: int = 4) -> st.SearchStrategy[Any]:
    return st.lists(strategy, max_size=max_size).map(tuple)


access_rights = st.builds(
    AccessRights,
    _tuples(
        st.builds(
            AttributeAccess,
            i8,
            st.sampled_from(AttributeAccessMode),
            st.none() | _tuples(i8, 3),
        )
    ),
    _tuples(st.builds(MethodAccess, i8, st.sampled_from(MethodAccessMode))),
)
script_actions = st.builds(ScriptAction, obis, u16)
action_specifications = st.builds(
    ActionSpecification, st.sampled_from(ScriptServiceId), u16, obis, i8, parameters
)

#: One strategy per structure; each value has ``to_data`` and its type a ``from_data``.
STRUCTURES: list[st.SearchStrategy[Any]] = [
    st.builds(ScalerUnit, i8, st.sampled_from(Unit) | u8),
    access_rights,
    st.builds(ObjectListElement, u16, u8, obis, access_rights),
    st.builds(AssociatedPartners, i8, u16),
    st.builds(MechanismName, u8),
    st.builds(
        XDlmsContextInfo,
        st.text("01", max_size=24),
        u16,
        u16,
        u8,
        i8,
        octets,
    ),
    st.builds(CaptureObjectDefinition, u16, obis, i8, u16),
    st.builds(ValueDefinition, u16, obis, i8),
    script_actions,
    action_specifications,
    st.builds(Script, u16, _tuples(action_specifications)),
    st.builds(ExecutionTime, times, dates),
    st.builds(SeasonProfile, octets, date_times, octets),
    st.builds(WeekProfile, octets, st.tuples(u8, u8, u8, u8, u8, u8, u8)),
    st.builds(DayProfile, u8, _tuples(st.builds(DayProfileAction, times, obis, u16))),
    st.builds(SpecialDayEntry, u16, dates, u8),
    st.builds(
        SendDestinationAndMethod,
        st.sampled_from(TransportService) | u8,
        octets,
        st.sampled_from(PushMessageType) | u8,
    ),
    st.builds(WindowElement, date_times, date_times),
    st.builds(ActionSet, script_actions, script_actions),
    st.builds(EmergencyProfile, u16, date_times, u32),
    st.builds(LimiterActions, script_actions, script_actions),
    st.builds(ImageToActivateInfo, u32, octets, octets),
    st.builds(ImageTransferInitiate, octets, u32),
    st.builds(ImageBlock, u32, octets),
    st.builds(KeyData, st.sampled_from(KeyId), octets),
]

#: Every type whose ``from_data`` reads values from the wire.
PARSERS = [
    ScalerUnit,
    AttributeAccess,
    MethodAccess,
    AccessRights,
    ObjectListElement,
    AssociatedPartners,
    MechanismName,
    XDlmsContextInfo,
    CaptureObjectDefinition,
    ValueDefinition,
    ScriptAction,
    ActionSpecification,
    Script,
    ExecutionTime,
    SeasonProfile,
    WeekProfile,
    DayProfileAction,
    DayProfile,
    SpecialDayEntry,
    SendDestinationAndMethod,
    WindowElement,
    ActionSet,
    EmergencyProfile,
    LimiterActions,
    ImageToActivateInfo,
    ImageTransferInitiate,
    ImageBlock,
    KeyData,
]
