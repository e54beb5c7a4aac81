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
    gap = ~good
    length = nxt - prev - 1
    short = gap & (length <= max_len)
    inner = short & (prev >= 0) & (nxt < width)
    edge = short & ~inner & ((prev >= 0) | (nxt < width))
    rows = np.arange(values.shape[0])[:, None]
    before = values[rows, np.clip(prev, 0, width - 1)]
    after = values[rows, np.clip(nxt, 0, width - 1)]
    cols = np.arange(width)[None, :]
    frac = (cols - prev) / np.maximum(nxt - prev, 1)
    linear = before + (after - before) * frac
    flat = np.where(prev >= 0, before, after)
    out = np.where(inner, linear, np.where(edge, flat, values))
    return out, inner, edge
