"""The object layout of a virtual meter: one shared :class:`ObjectTable` per phase count.

Every meter of a fleet with the same number of phases has the same objects, attribute layouts and
access rights, so the table is made once per process (a 3-phase meter has voltage and current
registers for L2 and L3 as well) and each meter keeps only a reference to it.
"""

from __future__ import annotations

import functools

from .apparent import method_objects
from .basic_objects import basic_objects, clock_object
from .calendar_objects import calendar_objects
from .control import control_objects
from .firmware import image_transfer
from .objects import ObjectTable
from .pq_profile import power_quality_profile
from .profile_objects import profile_objects
from .push_objects import push_objects
from .registers import register_objects
from .security_objects import association_objects, security_objects

__all__ = ["object_table"]


@functools.cache
def object_table(phases: int) -> ObjectTable:
    """The object table of a ``phases``-phase meter (1 or 3), made on first use."""
    return ObjectTable(
        [
            *basic_objects(),
            clock_object(),
            *register_objects(phases),
            *method_objects(),
            *profile_objects(),
            power_quality_profile(phases),
            *control_objects(),
            *calendar_objects(),
            *push_objects(),
            image_transfer(),
            *security_objects(),
            *association_objects(),
        ]
    )
