"""MTR-2: access rights decide, per association, what may be read, written and called."""

from __future__ import annotations

import pytest

from metra.dlms.cosem.access import (
    AccessRights,
    AttributeAccess,
    AttributeAccessMode,
    MethodAccess,
    MethodAccessMode,
)

M = AttributeAccessMode


def test_access_mode_numbers_are_the_blue_book_ones() -> None:
    assert [int(m) for m in AttributeAccessMode] == list(range(7))
    assert (M.NO_ACCESS, M.READ_ONLY, M.WRITE_ONLY, M.READ_AND_WRITE) == (0, 1, 2, 3)
    assert (M.AUTHENTICATED_READ_ONLY, M.AUTHENTICATED_WRITE_ONLY) == (4, 5)
    assert M.AUTHENTICATED_READ_AND_WRITE == 6
    assert [int(m) for m in MethodAccessMode] == [0, 1, 2]


@pytest.mark.parametrize(
    ("mode", "read", "write", "auth_read", "auth_write"),
    [
        (M.NO_ACCESS, False, False, False, False),
        (M.READ_ONLY, True, False, True, False),
        (M.WRITE_ONLY, False, True, False, True),
        (M.READ_AND_WRITE, True, True, True, True),
        (M.AUTHENTICATED_READ_ONLY, False, False, True, False),
        (M.AUTHENTICATED_WRITE_ONLY, False, False, False, True),
        (M.AUTHENTICATED_READ_AND_WRITE, False, False, True, True),
    ],
)
def test_mtr2_attribute_modes(
    mode: AttributeAccessMode, read: bool, write: bool, auth_read: bool, auth_write: bool
) -> None:
    rights = AccessRights((AttributeAccess(2, mode),))
    assert rights.may_read(2) is read
    assert rights.may_write(2) is write
    assert rights.may_read(2, authenticated=True) is auth_read
    assert rights.may_write(2, authenticated=True) is auth_write


def test_mtr2_method_modes() -> None:
    rights = AccessRights(
        methods=(
            MethodAccess(1, MethodAccessMode.ACCESS),
            MethodAccess(2, MethodAccessMode.AUTHENTICATED_ACCESS),
            MethodAccess(3, MethodAccessMode.NO_ACCESS),
        )
    )
    assert rights.may_call(1) and rights.may_call(1, authenticated=True)
    assert not rights.may_call(2) and rights.may_call(2, authenticated=True)
    assert not rights.may_call(3, authenticated=True)


def test_mtr2_unlisted_attributes_and_methods_have_no_access() -> None:
    rights = AccessRights((AttributeAccess(1, M.READ_ONLY),))
    assert not rights.may_read(2, authenticated=True)
    assert not rights.may_call(1, authenticated=True)
    assert rights.attribute_mode(9) is M.NO_ACCESS
    assert rights.method_mode(9) is MethodAccessMode.NO_ACCESS


def test_selectors_are_reported_per_attribute() -> None:
    rights = AccessRights(
        (AttributeAccess(2, M.READ_ONLY, (1, 2)), AttributeAccess(3, M.READ_ONLY))
    )
    assert rights.selectors(2) == (1, 2)
    assert rights.selectors(3) == ()
    assert rights.selectors(4) == ()
