"""Interface class metadata: numbering and names as the Blue Book gives them."""

from __future__ import annotations

import pytest

from metra.dlms.cosem.classes import (
    INTERFACE_CLASSES,
    UnknownMemberError,
    attribute_index,
    attribute_name,
    method_index,
    method_name,
)

#: (class_id, version, attribute count, method count) per the Blue Book class descriptions.
SHAPES = [
    (1, 0, 2, 0),  # Data
    (3, 0, 3, 1),  # Register
    (4, 0, 5, 1),  # Extended register
    (5, 0, 9, 2),  # Demand register
    (7, 1, 8, 2),  # Profile generic
    (8, 0, 9, 6),  # Clock
    (9, 0, 2, 1),  # Script table
    (11, 0, 2, 2),  # Special days table
    (15, 2, 11, 6),  # Association LN
    (18, 0, 7, 4),  # Image transfer
    (20, 0, 10, 1),  # Activity calendar
    (21, 0, 4, 0),  # Register monitor
    (22, 0, 4, 0),  # Single action schedule
    (40, 0, 7, 1),  # Push setup
    (64, 1, 6, 8),  # Security setup
    (70, 0, 4, 2),  # Disconnect control
    (71, 0, 11, 0),  # Limiter
]


@pytest.mark.parametrize(("class_id", "version", "n_attributes", "n_methods"), SHAPES)
def test_each_class_has_the_blue_book_shape(
    class_id: int, version: int, n_attributes: int, n_methods: int
) -> None:
    ic = INTERFACE_CLASSES[class_id]
    assert (ic.class_id, ic.version) == (class_id, version)
    assert [a.index for a in ic.attributes] == list(range(1, n_attributes + 1))
    assert [m.index for m in ic.methods] == list(range(1, n_methods + 1))
    assert ic.attributes[0].name == "logical_name" and ic.attributes[0].static
    assert len({a.name for a in ic.attributes}) == n_attributes


def test_registry_holds_exactly_the_classes_a_meter_needs() -> None:
    assert sorted(INTERFACE_CLASSES) == [s[0] for s in SHAPES]


@pytest.mark.parametrize(
    ("class_id", "name", "index"),
    [
        (3, "scaler_unit", 3),
        (4, "capture_time", 5),
        (5, "period", 8),
        (7, "buffer", 2),
        (7, "capture_objects", 3),
        (7, "capture_period", 4),
        (7, "sort_method", 5),
        (7, "profile_entries", 8),
        (8, "time_zone", 3),
        (8, "clock_base", 9),
        (15, "object_list", 2),
        (15, "authentication_mechanism_name", 6),
        (15, "association_status", 8),
        (15, "security_setup_reference", 9),
        (18, "image_transfer_status", 6),
        (18, "image_to_activate_info", 7),
        (20, "activate_passive_calendar_time", 10),
        (21, "actions", 4),
        (22, "execution_time", 4),
        (40, "communication_window", 4),
        (64, "server_system_title", 5),
        (70, "control_mode", 4),
        (71, "emergency_profile", 8),
        (71, "actions", 11),
    ],
)
def test_attribute_lookup_by_name(class_id: int, name: str, index: int) -> None:
    assert attribute_index(class_id, name) == index
    assert attribute_name(class_id, index) == name


@pytest.mark.parametrize(
    ("class_id", "name", "index"),
    [
        (3, "reset", 1),
        (5, "next_period", 2),
        (7, "capture", 2),
        (8, "adjust_to_quarter", 1),
        (8, "shift_time", 6),
        (9, "execute", 1),
        (11, "delete", 2),
        (15, "reply_to_HLS_authentication", 1),
        (15, "change_HLS_secret", 2),
        (18, "image_activate", 4),
        (20, "activate_passive_calendar", 1),
        (40, "push", 1),
        (64, "key_transfer", 2),
        (64, "security_activate", 1),
        (70, "remote_disconnect", 1),
        (70, "remote_reconnect", 2),
    ],
)
def test_method_lookup_by_name(class_id: int, name: str, index: int) -> None:
    assert method_index(class_id, name) == index
    assert method_name(class_id, index) == name


def test_static_and_dynamic_attributes() -> None:
    static = {a.name: a.static for a in INTERFACE_CLASSES[7].attributes}
    assert not static["buffer"] and not static["entries_in_use"]
    assert static["capture_objects"] and static["capture_period"]
    dc = {a.name: a.static for a in INTERFACE_CLASSES[70].attributes}
    assert dc == {
        "logical_name": True,
        "output_state": False,
        "control_state": False,
        "control_mode": True,
    }


def test_unknown_names_are_typed_errors() -> None:
    with pytest.raises(UnknownMemberError):
        attribute_index(7, "capture_perod")
    with pytest.raises(UnknownMemberError):
        method_index(70, "reconnect")
    with pytest.raises(UnknownMemberError):
        attribute_index(12345, "value")
    with pytest.raises(UnknownMemberError):
        attribute_name(1, 3)
    with pytest.raises(UnknownMemberError):
        method_name(1, 1)
