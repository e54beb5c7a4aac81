"""Short gaps: linear interpolation between the good neighbours, flat fill at an edge (DQ-6).

Works on the flat positions of the intervals still to fill (sorted): consecutive positions in a
row form a gap, whose neighbours are the intervals just before and after it, so a gap's length
and both neighbours are known without scanning the whole array.
"""

from __future__ import annotations

import numpy as np

from metra.mdm.batch import Floats, Ints
from metra.mdm.validation.findings import runs_at


def fill_short(values: Floats, need: Ints, max_len: int) -> tuple[Ints, Ints]:
    """Fill gaps of at most `max_len` intervals in place; returns interpolated and flat positions.

    `need` are the sorted flat positions without a value. A gap inside the data is bridged
    linearly between the last good value before it and the first after it; a gap at the start
    or end of the row has one neighbour only and takes its value (flat fill). Longer gaps (and
    rows with no good value at all) are left to the like-day method.
    """
    width = values.shape[1]
    _, first, last, _ = runs_at(need, width)
    lengths = last - first + 1
    short = lengths <= max_len
    prev = np.where(first > 0, first - 1, -1)
    nxt = np.where(last < width - 1, last + 1, width)
    at = np.repeat(short, lengths)
    pos = need[at]
    r, c = pos // width, pos % width
    p = np.repeat(prev[short], lengths[short])
    n = np.repeat(nxt[short], lengths[short])
    flat = values.reshape(-1)
    before = flat[r * width + np.clip(p, 0, width - 1)]
    after = flat[r * width + np.clip(n, 0, width - 1)]
    is_inner = (p >= 0) & (n < width)
    is_edge = ~is_inner & ((p >= 0) | (n < width))
    c_in, p_in, n_in = c[is_inner], p[is_inner], n[is_inner]
    b_in, a_in = before[is_inner], after[is_inner]
    flat[pos[is_inner]] = b_in + (a_in - b_in) * (c_in - p_in) / np.maximum(n_in - p_in, 1)
    flat[pos[is_edge]] = np.where(p >= 0, before, after)[is_edge]
    return pos[is_inner], pos[is_edge]
