"""Power-quality processing (PQ-1): stored voltage and frequency values of a meter or analyser
judged against the jurisdiction profile's limits, a report, and alarms when limits are crossed.
`docs/mdm.md` ("Power quality") states every rule and its source.
"""

from metra.mdm.power_quality.limits import Limit, limits_for, parameter_of
from metra.mdm.power_quality.report import (
    Compliance,
    Crossing,
    PowerQualityReport,
    compliance,
    power_quality_report,
    raise_alarms,
)

__all__ = [
    "Compliance",
    "Crossing",
    "Limit",
    "PowerQualityReport",
    "compliance",
    "limits_for",
    "parameter_of",
    "power_quality_report",
    "raise_alarms",
]
