"""How each served value was obtained (DQ-9), stored per interval next to its status code."""

from __future__ import annotations

from enum import IntEnum, StrEnum

import numpy as np

from metra.mdm.batch import Codes
from metra.store.intervals import Origin, Quality, status_code


class Method(IntEnum):
    """The method behind one interval value; NONE means no value could be served."""

    MEASURED = 0
    RESERVE = 1
    INTERPOLATED = 2
    FLAT_FILL = 3
    LIKE_DAY = 4
    SUBSTATION = 5
    STANDARD_PROFILE = 6
    CORRECTED = 7
    MANUAL = 8
    NONE = 255


class Kind(StrEnum):
    """The DQ-2 correctness class a method gives a value."""

    MEASURED = "measured"
    ESTIMATED = "estimated"
    CORRECTED = "corrected"
    EDITED = "edited"
    MISSING = "missing"


def kind_of(method: Method) -> Kind:
    """Measured, estimated (substitute data, DQ-6), corrected (DQ-7) or manually edited (DQ-11)."""
    if method is Method.MEASURED:
        return Kind.MEASURED
    if method is Method.CORRECTED:
        return Kind.CORRECTED
    if method is Method.MANUAL:
        return Kind.EDITED
    if method is Method.NONE:
        return Kind.MISSING
    return Kind.ESTIMATED


DETERMINED = np.uint16(status_code(Origin.SYSTEM, Quality.VALID))
"""Status of a value determined in the system (estimated, corrected, edited): S1 10.4."""


def determined_status(shape: tuple[int, ...]) -> Codes:
    """Status codes for system-determined values."""
    return np.full(shape, DETERMINED, np.uint16)
