"""Communication KPIs of the metering system (KPI-1..KPI-4): how much of each day's data arrived by
the profile's checkpoints, how many commands reached their meters in time, and the reports and
alarms built on them. `docs/mdm.md` ("KPIs") states every rule and its source.
"""

from metra.mdm.kpi.acquisition import Acquisition, CheckpointFigure, Miss, acquisition
from metra.mdm.kpi.exclusions import (
    Exclusion,
    ExclusionReason,
    ExclusionRefused,
    exclusions,
    record_exclusion,
)
from metra.mdm.kpi.population import Population, counted_from, population

__all__ = [
    "Acquisition",
    "CheckpointFigure",
    "Exclusion",
    "ExclusionReason",
    "ExclusionRefused",
    "Miss",
    "Population",
    "acquisition",
    "counted_from",
    "exclusions",
    "population",
    "record_exclusion",
]
