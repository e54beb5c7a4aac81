"""Estimation, substitute and corrected data (DQ-6..DQ-9), vectorised over meters."""

from metra.mdm.estimation.correction import (
    Correction,
    apply_corrections,
    ct_ratio_factor,
    missing_phase_factor,
)
from metra.mdm.estimation.estimate import Estimate, estimate
from metra.mdm.estimation.methods import Kind, Method, kind_of
from metra.mdm.estimation.substitute import (
    ConventionalEstimate,
    Reserve,
    StandardLoadProfile,
    Substation,
    from_standard_profile,
)

__all__ = [
    "ConventionalEstimate",
    "Correction",
    "Estimate",
    "Kind",
    "Method",
    "Reserve",
    "StandardLoadProfile",
    "Substation",
    "apply_corrections",
    "ct_ratio_factor",
    "estimate",
    "from_standard_profile",
    "kind_of",
    "missing_phase_factor",
]
