"""Short gaps: linear interpolation between the good neighbours, flat fill at an edge (DQ-6).

Vectorised per row: the previous and next good index of every position come from running
maximum / minimum scans, so a gap's length and both neighbours are known without a loop.
"""

from __future__ import annotations

import numpy as np

from metra.mdm.batch import Bools, Floats, Ints


def neighbours(good: Bools) -> tuple[Ints, Ints]:
    """Index of the previous good interval (-1 if none) and the next one (width if none)."""
    width = good.shape[1]
    cols = np.arange(width, dtype=np.int64)
    prev = np.maximum.accumulate(np.where(good, cols, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(good, cols, width)[:, ::-1], axis=1)[:, ::-1]
    return prev, nxt


def fill_short(values: Floats, good: Bools, max_len: int) -> tuple[Floats, Bools, Bools]:
    """Fill gaps of at most `max_len` intervals; returns values, interpolated and flat-filled masks.

    A gap inside the data is bridged linearly between the last good value before it and the
    first after it; a gap at the start or end of the data has one neighbour only and takes its
    value (flat fill). Longer gaps are left to the like-day method.
    """
    width = values.shape[1]
    prev, nxt = neighbours(good)
    short = ~good & (nxt - prev - 1 <= max_len)
    r, c = np.nonzero(short)  # only the gap positions are touched
    p, n = prev[r, c], nxt[r, c]
    before = values[r, np.clip(p, 0, width - 1)]
    after = values[r, np.clip(n, 0, width - 1)]
    is_inner = (p >= 0) & (n < width)
    is_edge = ~is_inner & ((p >= 0) | (n < width))
    out = values.copy()
    out[r[is_inner], c[is_inner]] = (before + (after - before) * (c - p) / np.maximum(n - p, 1))[
        is_inner
    ]
    out[r[is_edge], c[is_edge]] = np.where(p >= 0, before, after)[is_edge]
    inner = np.zeros(values.shape, np.bool_)
    edge = np.zeros(values.shape, np.bool_)
    inner[r[is_inner], c[is_inner]] = True
    edge[r[is_edge], c[is_edge]] = True
    return out, inner, edge
