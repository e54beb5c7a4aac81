"""The COSEM interface classes a meter needs, as metadata (Blue Book 4.3 .. 4.5, IEC 62056-6-2).

Both sides of the link need the numbering: the head-end to build Cosem-Attribute-Descriptors by
name, the virtual meter to answer them and to build its ``object_list``. Behaviour lives in the
meter model; this module only says which attribute and method has which index, under which class
version, and whether an attribute is static (configuration) or dynamic (changes by itself).

Versions are the ones a current meter exposes, each chosen to match the data shapes defined in
this package: Profile generic 1, Association LN 2 (access modes 0..6 as in version 2; version 3
replaced them with bit-mapped modes), Security setup 1 (suites 1 and 2 and certificates), Push setup
0; every other class here is at version 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "INTERFACE_CLASSES",
    "AttributeDef",
    "InterfaceClass",
    "MethodDef",
    "UnknownMemberError",
    "attribute_index",
    "attribute_name",
    "method_index",
    "method_name",
]


class UnknownMemberError(KeyError):
    """A class id, attribute or method name that the registry does not hold."""


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute: its index, its Blue Book name and whether it is static."""

    index: int
    name: str
    static: bool


@dataclass(frozen=True, slots=True)
class MethodDef:
    """One method: its index and its Blue Book name."""

    index: int
    name: str


@dataclass(frozen=True, slots=True)
class InterfaceClass:
    """An interface class: id, version, name, attributes and methods in index order."""

    class_id: int
    version: int
    name: str
    attributes: tuple[AttributeDef, ...]
    methods: tuple[MethodDef, ...]

    def attribute(self, name: str) -> AttributeDef:
        """The attribute called ``name``."""
        for attr in self.attributes:
            if attr.name == name:
                return attr
        raise UnknownMemberError(f"{self.name} has no attribute {name!r}")

    def method(self, name: str) -> MethodDef:
        """The method called ``name``."""
        for meth in self.methods:
            if meth.name == name:
                return meth
        raise UnknownMemberError(f"{self.name} has no method {name!r}")


_S, _D = True, False  # static, dynamic: the Blue Book's "(static)" / "(dyn.)"


def _ic(
    class_id: int,
    version: int,
    name: str,
    attributes: Sequence[tuple[str, bool]],
    methods: Sequence[str] = (),
) -> InterfaceClass:
    """Number attributes from 2 (attribute 1 is always the static ``logical_name``) and methods
    from 1, as every class description in the Blue Book does."""
    attrs = (
        AttributeDef(1, "logical_name", _S),
        *(AttributeDef(i, n, s) for i, (n, s) in enumerate(attributes, start=2)),
    )
    meths = tuple(MethodDef(i, n) for i, n in enumerate(methods, start=1))
    return InterfaceClass(class_id, version, name, attrs, meths)


_CLASSES = (
    _ic(1, 0, "Data", [("value", _D)]),
    _ic(3, 0, "Register", [("value", _D), ("scaler_unit", _S)], ["reset"]),
    _ic(
        4,
        0,
        "Extended register",
        [("value", _D), ("scaler_unit", _S), ("status", _D), ("capture_time", _D)],
        ["reset"],
    ),
    _ic(
        5,
        0,
        "Demand register",
        [
            ("current_average_value", _D),
            ("last_average_value", _D),
            ("scaler_unit", _S),
            ("status", _D),
            ("capture_time", _D),
            ("start_time_current", _D),
            ("period", _S),
            ("number_of_periods", _S),
        ],
        ["reset", "next_period"],
    ),
    _ic(
        7,
        1,
        "Profile generic",
        [
            ("buffer", _D),
            ("capture_objects", _S),
            ("capture_period", _S),
            ("sort_method", _S),
            ("sort_object", _S),
            ("entries_in_use", _D),
            ("profile_entries", _S),
        ],
        ["reset", "capture"],
    ),
    _ic(
        8,
        0,
        "Clock",
        [
            ("time", _D),
            ("time_zone", _S),
            ("status", _D),
            ("daylight_savings_begin", _S),
            ("daylight_savings_end", _S),
            ("daylight_savings_deviation", _S),
            ("daylight_savings_enabled", _S),
            ("clock_base", _S),
        ],
        [
            "adjust_to_quarter",
            "adjust_to_measuring_period",
            "adjust_to_minute",
            "adjust_to_preset_time",
            "preset_adjusting_time",
            "shift_time",
        ],
    ),
    _ic(9, 0, "Script table", [("scripts", _S)], ["execute"]),
    _ic(11, 0, "Special days table", [("entries", _S)], ["insert", "delete"]),
    _ic(
        15,
        2,
        "Association LN",
        [
            ("object_list", _S),
            ("associated_partners_id", _S),
            ("application_context_name", _S),
            ("xDLMS_context_info", _S),
            ("authentication_mechanism_name", _S),
            ("secret", _S),
            ("association_status", _D),
            ("security_setup_reference", _S),
            ("user_list", _S),
            ("current_user", _D),
        ],
        [
            "reply_to_HLS_authentication",
            "change_HLS_secret",
            "add_object",
            "remove_object",
            "add_user",
            "remove_user",
        ],
    ),
    _ic(
        18,
        0,
        "Image transfer",
        [
            ("image_block_size", _S),
            ("image_transferred_blocks_status", _D),
            ("image_first_not_transferred_block_number", _D),
            ("image_transfer_enabled", _S),
            ("image_transfer_status", _D),
            ("image_to_activate_info", _D),
        ],
        ["image_transfer_initiate", "image_block_transfer", "image_verify", "image_activate"],
    ),
    _ic(
        20,
        0,
        "Activity calendar",
        [
            ("calendar_name_active", _S),
            ("season_profile_active", _S),
            ("week_profile_table_active", _S),
            ("day_profile_table_active", _S),
            ("calendar_name_passive", _S),
            ("season_profile_passive", _S),
            ("week_profile_table_passive", _S),
            ("day_profile_table_passive", _S),
            ("activate_passive_calendar_time", _S),
        ],
        ["activate_passive_calendar"],
    ),
    _ic(
        21,
        0,
        "Register monitor",
        [("thresholds", _S), ("monitored_value", _S), ("actions", _S)],
    ),
    _ic(
        22,
        0,
        "Single action schedule",
        [("executed_script", _S), ("type", _S), ("execution_time", _S)],
    ),
    _ic(
        40,
        0,
        "Push setup",
        [
            ("push_object_list", _S),
            ("send_destination_and_method", _S),
            ("communication_window", _S),
            ("randomisation_start_interval", _S),
            ("number_of_retries", _S),
            ("repetition_delay", _S),
        ],
        ["push"],
    ),
    _ic(
        64,
        1,
        "Security setup",
        [
            ("security_policy", _S),
            ("security_suite", _S),
            ("client_system_title", _D),
            ("server_system_title", _S),
            ("certificates", _S),
        ],
        [
            "security_activate",
            "key_transfer",
            "key_agreement",
            "generate_key_pair",
            "generate_certificate_request",
            "import_certificate",
            "export_certificate",
            "remove_certificate",
        ],
    ),
    _ic(
        70,
        0,
        "Disconnect control",
        [("output_state", _D), ("control_state", _D), ("control_mode", _S)],
        ["remote_disconnect", "remote_reconnect"],
    ),
    _ic(
        71,
        0,
        "Limiter",
        [
            ("monitored_value", _S),
            ("threshold_active", _D),
            ("threshold_normal", _S),
            ("threshold_emergency", _S),
            ("min_over_threshold_duration", _S),
            ("min_under_threshold_duration", _S),
            ("emergency_profile", _S),
            ("emergency_profile_group_id_list", _S),
            ("emergency_profile_active", _D),
            ("actions", _S),
        ],
    ),
)

#: Every interface class defined here, by class id.
INTERFACE_CLASSES: dict[int, InterfaceClass] = {ic.class_id: ic for ic in _CLASSES}


def _get(class_id: int) -> InterfaceClass:
    try:
        return INTERFACE_CLASSES[class_id]
    except KeyError:
        raise UnknownMemberError(f"no interface class with class_id {class_id}") from None


def attribute_index(class_id: int, name: str) -> int:
    """The index of attribute ``name`` of class ``class_id``: ``(7, "capture_period") -> 4``."""
    return _get(class_id).attribute(name).index


def method_index(class_id: int, name: str) -> int:
    """The index of method ``name`` of class ``class_id``: ``(70, "remote_reconnect") -> 2``."""
    return _get(class_id).method(name).index


def attribute_name(class_id: int, index: int) -> str:
    """The Blue Book name of attribute ``index`` of class ``class_id``."""
    for attr in _get(class_id).attributes:
        if attr.index == index:
            return attr.name
    raise UnknownMemberError(f"class {class_id} has no attribute {index}")


def method_name(class_id: int, index: int) -> str:
    """The Blue Book name of method ``index`` of class ``class_id``."""
    for meth in _get(class_id).methods:
        if meth.index == index:
            return meth.name
    raise UnknownMemberError(f"class {class_id} has no method {index}")
