"""Findings: what each failed check found, kept column-wise until someone asks for objects.

A fleet-wide run may produce many thousands of hits, so a check returns its hits as aligned
arrays (meter row, first and last interval, evidence columns) and `Finding` objects are built
only when iterated: the rule, the meter and channel, the interval range and the evidence
(values and thresholds), as DQ-4 asks of each failed check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import numpy as np

from metra.mdm.batch import Batch, Bools, Floats, Ints
from metra.mdm.validation.rules import Rule, Severity


@dataclass(frozen=True)
class Finding:
    """One failed check on one meter: intervals `first`..`last` (inclusive) of the batch."""

    rule: Rule
    severity: Severity
    meter_id: UUID
    channel: str
    first: int
    last: int
    start: datetime
    end: datetime
    evidence: dict[str, float | str]


@dataclass(frozen=True)
class Hits:
    """Column-wise hits of one rule; `evidence[name][k]` belongs to hit k."""

    rule: Rule
    meter: Ints
    first: Ints
    last: Ints
    evidence: dict[str, Floats]
    labels: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return int(self.meter.size)


def runs(mask: Bools) -> tuple[Ints, Ints, Ints]:
    """Row, first and last index of every run of True in each row of a 2-D mask."""
    rows, width = mask.shape
    padded = np.zeros((rows, width + 2), np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    r0, c0 = np.nonzero(step == 1)
    _, c1 = np.nonzero(step == -1)
    return r0.astype(np.int64), c0.astype(np.int64), (c1 - 1).astype(np.int64)


def run_hits(rule: Rule, mask: Bools, **evidence: Floats) -> Hits:
    """Hits for every run of a mask; each evidence array (same shape) is summarised per run.

    The evidence of a run is the value at the run's largest `value` (or first position), so
    a spike finding carries the spike itself and the threshold it broke.
    """
    rows, first, last = runs(mask)
    anchor = first
    if "value" in evidence and rows.size:
        anchor = _run_argmax(np.where(mask, evidence["value"], -np.inf), rows, first, last)
    picked = {name: np.asarray(a, np.float64)[rows, anchor] for name, a in evidence.items()}
    return Hits(rule, rows, first, last, picked)


def _run_argmax(values: Floats, rows: Ints, first: Ints, last: Ints) -> Ints:
    """Column of each run's largest value, without a Python loop per run."""
    lengths = last - first + 1
    run_of = np.repeat(np.arange(rows.size), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = np.repeat(first, lengths) + offsets
    order = np.lexsort((-values[np.repeat(rows, lengths), cols], run_of))
    head = np.ones(order.size, np.bool_)
    head[1:] = run_of[order][1:] != run_of[order][:-1]
    return np.asarray(cols[order][head], np.int64)


class Findings:
    """All hits of a validation run, iterable as `Finding` objects."""

    def __init__(self, batch: Batch, severity: dict[Rule, Severity]) -> None:
        self._batch = batch
        self._severity = severity
        self.hits: list[Hits] = []

    def add(self, hits: Hits) -> None:
        """Keep a rule's hits if there are any."""
        if len(hits):
            self.hits.append(hits)

    def count(self, rule: Rule | None = None) -> int:
        """How many findings (of one rule, or all)."""
        return sum(len(h) for h in self.hits if rule is None or h.rule == rule)

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[Finding]:
        b = self._batch
        step = timedelta(seconds=b.interval_s)
        for h in self.hits:
            for k in range(len(h)):
                first, last = int(h.first[k]), int(h.last[k])
                yield Finding(
                    rule=h.rule,
                    severity=self._severity[h.rule],
                    meter_id=b.meter_ids[int(h.meter[k])],
                    channel=b.channel,
                    first=first,
                    last=last,
                    start=b.start(first),
                    end=b.start(last) + step,
                    evidence={
                        **{n: float(a[k]) for n, a in h.evidence.items()},
                        **dict(h.labels),
                    },
                )
