"""COSEM value structures against encodings published in public meter traces.

Every byte string here was captured from a real meter (or written by a head-end to one) and is
public on GitHub (found through the code index); none was produced by this code. Each vector is
decoded with the project's A-XDR codec, read into its structure, checked field by field, and
re-encoded to the identical bytes.
"""

from __future__ import annotations

from metra.dlms import axdr
from metra.dlms.cosem.access import AttributeAccessMode, MethodAccessMode
from metra.dlms.cosem.association import MechanismName, ObjectListElement
from metra.dlms.cosem.classes import INTERFACE_CLASSES
from metra.dlms.cosem.enums import AuthenticationMechanism
from metra.dlms.cosem.references import CaptureObjectDefinition
from metra.dlms.cosem.units import ScalerUnit, Unit
from metra.dlms.data import Array
from metra.dlms.obis import Obis


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_scaler_unit_matches_meter_get_responses() -> None:
    # Get-Response-Normal frames of an L&T meter, reading Register attribute 3 (scaler_unit),
    # from a public Android meter-reading app: "... C4 01 81 00 02 02 0F FD 16 2C ..." and
    # "... C4 01 81 00 02 02 0F FF 16 1E ...". The data follow the 4-octet APDU header.
    for apdu, scaler, unit in (
        ("C4 01 81 00 02 02 0F FD 16 2C", -3, Unit.HERTZ),
        ("C4 01 81 00 02 02 0F FF 16 1E", -1, Unit.WATT_HOUR),
    ):
        data = _hex(apdu)[4:]
        su = ScalerUnit.from_data(axdr.decode(data))
        assert su == ScalerUnit(scaler, unit)
        assert axdr.encode(su.to_data()) == data


def test_unit_codes_of_the_brief_match_the_blue_book_table() -> None:
    # Blue Book unit table, as also listed by IEC 62056-62 tools (e.g. SML units in public code).
    assert (Unit.WATT, Unit.VOLT_AMPERE, Unit.VAR) == (27, 28, 29)
    assert (Unit.WATT_HOUR, Unit.VOLT_AMPERE_HOUR, Unit.VAR_HOUR) == (30, 31, 32)
    assert (Unit.AMPERE, Unit.VOLT, Unit.HERTZ, Unit.COUNT) == (33, 35, 44, 255)


#: One object_list element from a meter's Get-Response of Association LN attribute 2 (public Qt
#: head-end trace "C4 01 81 00 01 05 02 04 12 00 08 ..."): the Clock, class 8 version 0,
#: 0-0:1.0.0.255, attributes 1..9 read-only without selectors, methods 1..6 without access.
CLOCK_ELEMENT = (
    "02 04 12 00 08 11 00 09 06 00 00 01 00 00 FF 02 02 01 09"
    " 02 03 0F 01 16 01 00 02 03 0F 02 16 01 00 02 03 0F 03 16 01 00"
    " 02 03 0F 04 16 01 00 02 03 0F 05 16 01 00 02 03 0F 06 16 01 00"
    " 02 03 0F 07 16 01 00 02 03 0F 08 16 01 00 02 03 0F 09 16 01 00"
    " 01 06 02 02 0F 01 16 00 02 02 0F 02 16 00 02 02 0F 03 16 00"
    " 02 02 0F 04 16 00 02 02 0F 05 16 00 02 02 0F 06 16 00"
)
#: The next element of the same response: Association LN, class 15 version 1, 0-0:40.0.0.255,
#: attributes 1..5 read-only, 6..9 no access, and an empty method_access array.
ASSOCIATION_ELEMENT = (
    "02 04 12 00 0F 11 01 09 06 00 00 28 00 00 FF 02 02 01 09"
    " 02 03 0F 01 16 01 00 02 03 0F 02 16 01 00 02 03 0F 03 16 01 00"
    " 02 03 0F 04 16 01 00 02 03 0F 05 16 01 00 02 03 0F 06 16 00 00"
    " 02 03 0F 07 16 00 00 02 03 0F 08 16 00 00 02 03 0F 09 16 00 00 01 00"
)


def test_object_list_element_matches_a_meter_response() -> None:
    raw = _hex(CLOCK_ELEMENT)
    element = ObjectListElement.from_data(axdr.decode(raw))
    assert (element.class_id, element.version) == (8, 0)
    assert element.logical_name == Obis.parse("0-0:1.0.0.255")
    rights = element.access_rights
    assert [a.attribute_id for a in rights.attributes] == list(range(1, 10))
    assert {a.access_mode for a in rights.attributes} == {AttributeAccessMode.READ_ONLY}
    assert all(a.access_selectors is None for a in rights.attributes)
    assert [m.method_id for m in rights.methods] == list(range(1, 7))
    assert {m.access_mode for m in rights.methods} == {MethodAccessMode.NO_ACCESS}
    assert axdr.encode(element.to_data()) == raw
    # The meter lists exactly the attributes and methods our Clock definition numbers.
    clock = INTERFACE_CLASSES[8]
    assert len(clock.attributes) == 9 and len(clock.methods) == 6


def test_access_rights_of_a_published_element_answer_mtr2_questions() -> None:
    # MTR-2: what this (public) association may do follows from the meter's own access rights.
    clock = ObjectListElement.from_data(axdr.decode(_hex(CLOCK_ELEMENT))).access_rights
    assert clock.may_read(2) and not clock.may_write(2) and not clock.may_call(1)
    assoc = ObjectListElement.from_data(axdr.decode(_hex(ASSOCIATION_ELEMENT)))
    assert assoc.class_id == 15 and assoc.version == 1
    assert assoc.logical_name == Obis.parse("0-0:40.0.0.255")
    assert assoc.access_rights.may_read(5) and not assoc.access_rights.may_read(7)
    assert assoc.access_rights.methods == ()
    assert axdr.encode(assoc.to_data()) == _hex(ASSOCIATION_ELEMENT)


def test_capture_objects_match_a_meter_response() -> None:
    # Wrapper frame + Get-Response-Normal of Profile generic attribute 3 (capture_objects) from a
    # public head-end's meter simulator (daily freeze profile): wrapper length 0x00A8 = 4 + 2 +
    # 9 * 18 octets, so the array is complete.
    frame = _hex(
        "00 01 00 01 00 01 00 A8 C4 01 C1 00 01 09"
        " 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 01 08 00 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 01 08 01 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 01 08 02 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 01 08 03 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 01 08 04 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 02 08 00 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 03 08 00 FF 0F 02 12 00 00"
        " 02 04 12 00 03 09 06 01 00 04 08 00 FF 0F 02 12 00 00"
    )
    assert int.from_bytes(frame[6:8], "big") == len(frame) - 8
    data = frame[12:]
    value = axdr.decode(data)
    assert isinstance(value, Array)
    captured = [CaptureObjectDefinition.from_data(v) for v in value]
    assert captured[0] == CaptureObjectDefinition(8, Obis.parse("0-0:1.0.0.255"), 2, 0)
    assert [str(c.logical_name) for c in captured[1:]] == [
        "1-0:1.8.0.255",
        "1-0:1.8.1.255",
        "1-0:1.8.2.255",
        "1-0:1.8.3.255",
        "1-0:1.8.4.255",
        "1-0:2.8.0.255",
        "1-0:3.8.0.255",
        "1-0:4.8.0.255",
    ]
    assert all(c.class_id == 3 and c.attribute_index == 2 for c in captured[1:])
    assert axdr.encode(Array([c.to_data() for c in captured])) == data


def test_capture_object_in_a_range_descriptor_matches_a_trace() -> None:
    # Get-Request with selective access by range on 1-0:99.1.0.255, from a public HDLC trace:
    # "... 01 02 04 02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00 09 0C ..." -- the
    # restricting object is {8, 0-0:1.0.0.255, 2, 0}.
    raw = _hex("02 04 12 00 08 09 06 00 00 01 00 00 FF 0F 02 12 00 00")
    assert CaptureObjectDefinition(8, Obis(0, 0, 1, 0, 0), 2).to_data() == axdr.decode(raw)
    assert axdr.encode(CaptureObjectDefinition(8, Obis(0, 0, 1, 0, 0), 2).to_data()) == raw


def test_mechanism_name_matches_the_aarq_of_a_trace() -> None:
    # AARQ from a public HDLC trace: "... 8B 07 60 85 74 05 08 02 02 ..." (mechanism-name, HLS).
    assert MechanismName(AuthenticationMechanism.HIGH).oid_bytes() == _hex("60 85 74 05 08 02 02")
    octets = MechanismName(2).to_data(as_octets=True)
    assert MechanismName.from_data(octets) == MechanismName(2)
    # The structure form spells the same arcs {2 16 756 5 8 2 5} as unsigned / long-unsigned.
    structure = MechanismName(AuthenticationMechanism.HIGH_GMAC).to_data()
    assert axdr.encode(structure) == _hex("02 07 11 02 11 10 12 02 F4 11 05 11 08 11 02 11 05")


def test_version_0_object_list_with_boolean_method_access_is_read() -> None:
    # Association LN version 0 object_list from a public DLMS library's test data (Elster, Java):
    # "01 17 02 04 12 00 08 11 00 09 06 00 00 01 00 00 FF 02 02 01 09 02 03 0F 01 16 01 00 ...
    #  01 06 02 02 0F 01 03 00 ..." -- there method access_mode is a boolean (03 00 = false).
    raw = _hex(
        "02 04 12 00 08 11 00 09 06 00 00 01 00 00 FF 02 02 01 09"
        " 02 03 0F 01 16 01 00 02 03 0F 02 16 03 00 02 03 0F 03 16 03 00"
        " 02 03 0F 04 16 01 00 02 03 0F 05 16 01 00 02 03 0F 06 16 01 00"
        " 02 03 0F 07 16 01 00 02 03 0F 08 16 03 00 02 03 0F 09 16 01 00"
        " 01 06 02 02 0F 01 03 00 02 02 0F 02 03 00 02 02 0F 03 03 00"
        " 02 02 0F 04 03 00 02 02 0F 05 03 00 02 02 0F 06 03 00"
    )
    element = ObjectListElement.from_data(axdr.decode(raw))
    rights = element.access_rights
    assert rights.may_write(2) and rights.may_read(2) and not rights.may_write(4)
    assert {m.access_mode for m in rights.methods} == {MethodAccessMode.NO_ACCESS}
