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

from metra.mdm.batch import Batch, Floats, Ints
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


def runs_at(pos: Ints, width: int) -> tuple[Ints, Ints, Ints, Ints]:
    """Runs of sorted, distinct flat positions of a (rows, width) grid, split at row ends.

    Returns the row, first and last column of every run and the index in `pos` where each run
    starts. Working on the positions of the hits (not on a full mask) keeps the cost
    proportional to what was found.
    """
    if pos.size == 0:
        none = np.zeros(0, np.int64)
        return none, none, none, none
    cols = pos % width
    head = np.ones(pos.size, np.bool_)
    head[1:] = (pos[1:] != pos[:-1] + 1) | (cols[1:] == 0)
    heads = np.flatnonzero(head)
    tails = np.append(heads[1:], pos.size) - 1
    rows = pos[heads] // width
    return rows, cols[heads], cols[tails], heads


def spans(rows: Ints, first: Ints, last: Ints, width: int) -> Ints:
    """Flat positions of every interval range `first[k]..last[k]` of row `rows[k]`."""
    lengths = last - first + 1
    if lengths.size == 0:
        return np.zeros(0, np.int64)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.asarray(np.repeat(rows * width + first, lengths) + offsets, np.int64)


def hits_at(rule: Rule, pos: Ints, width: int, **evidence: Floats) -> Hits:
    """Hits for every run of sorted flat positions; evidence arrays are aligned with `pos`.

    The evidence of a run is taken at the run's largest `value` (the first one on a tie) or at
    its first position, so a spike finding carries the spike itself and the threshold it broke.
    """
    rows, first, last, heads = runs_at(pos, width)
    anchor = heads
    if "value" in evidence and heads.size:
        lengths = last - first + 1
        run_of = np.repeat(np.arange(heads.size), lengths)
        order = np.lexsort((-evidence["value"], run_of))
        lead = np.ones(order.size, np.bool_)
        lead[1:] = run_of[order][1:] != run_of[order][:-1]
        anchor = order[lead]
    picked = {name: np.asarray(a, np.float64)[anchor] for name, a in evidence.items()}
    return Hits(rule, rows, first, last, picked)


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
