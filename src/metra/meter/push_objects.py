"""The COSEM face of the meter's pushes: Push setup (40), push action schedulers (22) and the
push script table (9) (ACC-1, COL-9). Behaviour lives in :mod:`metra.meter.push`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metra.dlms.cosem import _shape
from metra.dlms.cosem.enums import ScriptServiceId, SingleActionType, TransportService
from metra.dlms.cosem.push import SendDestinationAndMethod, WindowElement
from metra.dlms.cosem.references import CaptureObjectDefinition, ScriptAction
from metra.dlms.cosem.scripts import ActionSpecification, ExecutionTime, Script
from metra.dlms.data import Data, Enum, Integer, LongUnsigned, Unsigned
from metra.dlms.obis import Obis
from metra.dlms.server import RequestContext
from metra.dlms.xdlms.common import ActionResult, DataAccessResult

from .objects import Attr, CosemObject, Method, Setter
from .push import (
    HAN_INSTANT,
    HAN_REGISTERS,
    MAX_ENTRIES,
    PUSH_SCRIPT_TABLE,
    WAN_PUSH,
    scheduler,
)

if TYPE_CHECKING:
    from .meter import VirtualMeter

__all__ = ["push_objects"]

_SETUPS = (WAN_PUSH, HAN_REGISTERS, HAN_INSTANT)


def _script_id(setup: Obis) -> int:
    """Script of the push script table that pushes ``setup`` (identifier 0 is reserved)."""
    return setup.b + 1


def _destination(value: Data) -> SendDestinationAndMethod | None:
    """A destination a virtual meter can reach: TCP ``host:port``, or empty (push off)."""
    d = SendDestinationAndMethod.from_data(value)
    if not d.destination:
        return d
    host, _, port = d.destination.decode("ascii", "replace").rpartition(":")
    if d.transport_service != TransportService.TCP or not host or not port.isdigit():
        return None
    if not 0 < int(port) < 65536 or len(d.destination) > 64:
        return None
    return d


def _setter(ln: Obis, name: str) -> Setter:
    def write(m: VirtualMeter, ctx: RequestContext, value: Data) -> DataAccessResult:
        change: object
        if name == "objects":
            items = _shape.parse_array(value, CaptureObjectDefinition.from_data, "push_object_list")
            if len(items) > MAX_ENTRIES or any(
                m.objects.get((o.class_id, o.logical_name.to_bytes())) is None for o in items
            ):
                return DataAccessResult.OTHER_REASON
            change = items
        elif name == "destination":
            change = _destination(value)
            if change is None:
                return DataAccessResult.OTHER_REASON
        elif name == "windows":
            change = _shape.parse_array(value, WindowElement.from_data, "communication_window")
        elif name == "randomisation":
            change = _shape.integer(value, LongUnsigned, "randomisation_start_interval")
        elif name == "retries":
            change = _shape.integer(value, Unsigned, "number_of_retries")
        elif name == "repetition_delay":
            change = _shape.integer(value, LongUnsigned, "repetition_delay")
        else:  # "times"
            change = _shape.parse_array(value, ExecutionTime.from_data, "execution_time")
            if len(change) > MAX_ENTRIES:
                return DataAccessResult.OTHER_REASON
        m.pushes.update(ln, **{name: change})
        return DataAccessResult.SUCCESS

    return write


def _push(ln: Obis) -> Method:
    def run(m: VirtualMeter, ctx: RequestContext, p: Data | None) -> tuple[ActionResult, None]:
        if p is not None and _shape.integer(p, Integer, "data") != 0:
            return ActionResult.TYPE_UNMATCHED, None
        if not m.pushes.trigger(ln, m.now()):
            return ActionResult.OTHER_REASON, None
        return ActionResult.SUCCESS, None

    return run


def _setup(ln: Obis) -> CosemObject:
    return CosemObject(
        40,
        0,
        ln,
        {
            2: Attr(
                lambda m, _a: _shape.array_of(m.pushes.setups[ln].objects), _setter(ln, "objects")
            ),
            3: Attr(
                lambda m, _a: m.pushes.setups[ln].destination.to_data(), _setter(ln, "destination")
            ),
            4: Attr(
                lambda m, _a: _shape.array_of(m.pushes.setups[ln].windows), _setter(ln, "windows")
            ),
            5: Attr(
                lambda m, _a: LongUnsigned(m.pushes.setups[ln].randomisation),
                _setter(ln, "randomisation"),
            ),
            6: Attr(lambda m, _a: Unsigned(m.pushes.setups[ln].retries), _setter(ln, "retries")),
            7: Attr(
                lambda m, _a: LongUnsigned(m.pushes.setups[ln].repetition_delay),
                _setter(ln, "repetition_delay"),
            ),
        },
        {1: _push(ln)},
    )


def _scheduler(ln: Obis) -> CosemObject:
    script = ScriptAction(PUSH_SCRIPT_TABLE, _script_id(ln)).to_data()
    return CosemObject(
        22,
        0,
        scheduler(ln),
        {
            2: Attr(lambda _m, _a: script),
            3: Attr(lambda _m, _a: Enum(SingleActionType.ANY_TIME_WILDCARD_DATE)),
            4: Attr(lambda m, _a: _shape.array_of(m.pushes.setups[ln].times), _setter(ln, "times")),
        },
    )


def _script_table() -> CosemObject:
    scripts = _shape.array_of(
        Script(
            _script_id(ln),
            (ActionSpecification(ScriptServiceId.EXECUTE_METHOD, 40, ln, 1, Integer(0)),),
        )
        for ln in _SETUPS
    )
    return CosemObject(9, 0, PUSH_SCRIPT_TABLE, {2: Attr(lambda _m, _a: scripts)})


def push_objects() -> list[CosemObject]:
    return [
        *(_setup(ln) for ln in _SETUPS),
        *(_scheduler(ln) for ln in _SETUPS),
        _script_table(),
    ]
