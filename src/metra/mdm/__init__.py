"""Meter data management: validation, estimation and editing (VEE) of raw interval data.

Raw day rows in the store stay untouched (DQ-5); this package validates them with vectorised rule
sets from the jurisdiction profile, estimates or corrects what fails, and keeps its results as
versioned rows in its own tables. `docs/mdm.md` explains the methods and their order.
"""

from metra.mdm.batch import Batch, Events
from metra.mdm.run import VeeRun, run_vee

__all__ = ["Batch", "Events", "VeeRun", "run_vee"]
