"""Every COSEM value structure survives to_data -> A-XDR bytes -> decode -> from_data unchanged."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from metra.dlms import axdr
from metra.dlms.cosem.association import (
    MechanismName,
    association_status_from_data,
    association_status_to_data,
)
from metra.dlms.cosem.enums import AssociationStatus, SecurityPolicy, SecuritySuite
from metra.dlms.cosem.security import (
    security_policy_from_data,
    security_policy_to_data,
    security_suite_from_data,
    security_suite_to_data,
)

from .strategies import STRUCTURES, u8


@settings(max_examples=400)
@given(st.one_of(*STRUCTURES))
def test_structures_round_trip_through_axdr(value: Any) -> None:
    raw = axdr.encode(value.to_data())
    back = type(value).from_data(axdr.decode(raw))
    assert back == value
    assert axdr.encode(back.to_data()) == raw


@given(u8)
def test_mechanism_name_octet_form_round_trips(mechanism_id: int) -> None:
    name = MechanismName(mechanism_id)
    raw = axdr.encode(name.to_data(as_octets=True))
    assert MechanismName.from_data(axdr.decode(raw)) == name


@given(
    st.sampled_from(AssociationStatus),
    st.sampled_from(SecuritySuite),
    st.integers(0, 0x3F).map(lambda bits: SecurityPolicy(bits << 2)),
)
def test_enum_attributes_round_trip(
    status: AssociationStatus, suite: SecuritySuite, policy: SecurityPolicy
) -> None:
    assert (
        association_status_from_data(axdr.decode(axdr.encode(association_status_to_data(status))))
        == status
    )
    assert (
        security_suite_from_data(axdr.decode(axdr.encode(security_suite_to_data(suite)))) == suite
    )
    assert (
        security_policy_from_data(axdr.decode(axdr.encode(security_policy_to_data(policy))))
        == policy
    )
