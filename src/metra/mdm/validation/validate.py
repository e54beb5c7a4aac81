"""Run a rule set over a batch: findings plus per-interval invalid and suspect masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metra.mdm.batch import Batch, Bools, Codes, Ints
from metra.mdm.validation.checks import INTERVAL_CHECKS, Prepared, Result, events, status_bits
from metra.mdm.validation.findings import Findings
from metra.mdm.validation.rules import Rule, RuleSet, Severity
from metra.store.intervals import Quality

_QUALITY_CLEAR = np.uint16(~0x0018 & 0xFFFF)
_SHIFT = np.uint16(3)


@dataclass(frozen=True)
class Validation:
    """What validation concluded: findings, and which intervals are invalid or suspect.

    `invalid` intervals (missing ones included) are to be replaced by estimates; `suspect` ones
    are kept and flagged (DQ-3). `status` is the raw status with the quality bits set (DQ-2).
    `invalid_at` lists the flat positions of the invalid intervals, sorted, for the estimator.
    """

    findings: Findings
    invalid: Bools
    suspect: Bools
    status: Codes
    invalid_at: Ints


def validate(batch: Batch, rules: RuleSet) -> Validation:
    """Check every enabled rule over the whole batch at once (DQ-4).

    Checks report flat positions; the masks and the quality bits are set only there, on top of
    one pass that marks every present interval VALID.
    """
    p = Prepared.of(batch)
    severity = {rule: rules.severity(rule) for rule in Rule}
    findings = Findings(batch, severity)
    results: list[Result] = [
        check(batch, rules, p) for rule, check in INTERVAL_CHECKS.items() if rule in rules.enabled
    ]
    results += status_bits(batch, rules, p)
    results += [r for r in events(batch, rules, p) if r[0].rule in rules.enabled]
    invalid = np.zeros(batch.values.shape, np.bool_)
    suspect = np.zeros(batch.values.shape, np.bool_)
    flagged: list[Ints] = []
    for hits, pos in results:
        findings.add(hits)
        if not len(hits):
            continue
        if severity[hits.rule] is Severity.INVALID:
            invalid.reshape(-1)[pos] = True
        else:
            flagged.append(pos)
    invalid.reshape(-1)[p.missing] = True
    invalid_at = np.flatnonzero(invalid)
    suspect_at = np.concatenate(flagged) if flagged else np.zeros(0, np.int64)
    suspect_at = suspect_at[~invalid.reshape(-1)[suspect_at]]
    suspect.reshape(-1)[suspect_at] = True

    status = p.status & _QUALITY_CLEAR
    status |= np.uint16(Quality.VALID) << _SHIFT
    raw, out = p.status.reshape(-1), status.reshape(-1)
    out[suspect_at] = (raw[suspect_at] & _QUALITY_CLEAR) | (np.uint16(Quality.SUSPECT) << _SHIFT)
    out[invalid_at] = (raw[invalid_at] & _QUALITY_CLEAR) | (np.uint16(Quality.INVALID) << _SHIFT)
    out[p.missing] = 0
    return Validation(findings, invalid, suspect, status, invalid_at)
