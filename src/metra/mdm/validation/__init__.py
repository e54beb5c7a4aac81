"""Validation of interval data with configurable, vectorised rule sets (DQ-3, DQ-4, DQ-10)."""

from metra.mdm.validation.findings import Finding, Findings, Hits
from metra.mdm.validation.rules import Rule, RuleSet, Severity
from metra.mdm.validation.validate import Validation, validate

__all__ = ["Finding", "Findings", "Hits", "Rule", "RuleSet", "Severity", "Validation", "validate"]
