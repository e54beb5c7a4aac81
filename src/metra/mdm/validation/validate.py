"""Run a rule set over a batch: findings plus per-interval invalid and suspect masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metra.mdm.batch import Batch, Bools, Codes
from metra.mdm.validation.checks import INTERVAL_CHECKS, Prepared, Result, events
from metra.mdm.validation.findings import Findings
from metra.mdm.validation.rules import Rule, RuleSet, Severity
from metra.store.intervals import Quality

_QUALITY_CLEAR = np.uint16(~0x0018 & 0xFFFF)


@dataclass(frozen=True)
class Validation:
    """What validation concluded: findings, and which intervals are invalid or suspect.

    `invalid` intervals (missing ones included) are to be replaced by estimates; `suspect` ones
    are kept and flagged (DQ-3). `status` is the raw status with the quality bits set (DQ-2).
    """

    findings: Findings
    invalid: Bools
    suspect: Bools
    status: Codes


def validate(batch: Batch, rules: RuleSet) -> Validation:
    """Check every enabled rule over the whole batch at once (DQ-4)."""
    prepared = Prepared.of(batch)
    severity = {rule: rules.severity(rule) for rule in Rule}
    findings = Findings(batch, severity)
    invalid = np.zeros(batch.values.shape, np.bool_)
    suspect = np.zeros(batch.values.shape, np.bool_)
    results: list[Result] = [
        check(batch, rules, prepared)
        for rule, check in INTERVAL_CHECKS.items()
        if rule in rules.enabled
    ]
    results += [r for r in events(batch, rules, prepared) if r[0].rule in rules.enabled]
    for hits, mask in results:
        findings.add(hits)
        if not len(hits):
            continue
        if severity[hits.rule] is Severity.INVALID:
            invalid |= mask
        else:
            suspect |= mask
    invalid |= ~prepared.present
    suspect &= ~invalid
    quality = np.where(
        invalid,
        np.uint16(Quality.INVALID),
        np.where(suspect, np.uint16(Quality.SUSPECT), np.uint16(Quality.VALID)),
    ).astype(np.uint16)
    status = (batch.status & _QUALITY_CLEAR) | (quality << np.uint16(3))
    status = np.where(prepared.present, status, np.uint16(0)).astype(np.uint16)
    return Validation(findings, invalid, suspect, status)
