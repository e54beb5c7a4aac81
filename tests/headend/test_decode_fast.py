"""The one-pass load-profile decoder gives exactly what rows + span filter + interval_days give
(DQ-1, DQ-2: values, per-interval status and origin), and refuses the same malformed input."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from metra.dlms import axdr
from metra.dlms.data import Data, DateTime, DoubleLongUnsigned, OctetString, Unsigned
from metra.dlms.errors import DecodeError
from metra.dlms.xdlms.common import CaptureObject
from metra.headend import decode

PERIOD = 900
LNS = [bytes((1, 0, c, 29, 0, 255)) for c in (1, 2, 5)]
COLUMNS = [
    decode.Column(CaptureObject(8, bytes((0, 0, 1, 0, 0, 255)), 2, 0), "clock"),
    decode.Column(CaptureObject(1, bytes((0, 0, 96, 10, 1, 255)), 2, 0), "status"),
] + [
    decode.Column(CaptureObject(3, ln, 2, 0), "value", decode.ScalerUnit(-1 if i else 0, 30))
    for i, ln in enumerate(LNS)
]


def _stamp(at: datetime) -> OctetString:
    return OctetString(axdr.datetime_to_bytes(DateTime.from_datetime(at)))


def _buffer(rng: random.Random, start: datetime, count: int) -> list[Data]:
    rows: list[Data] = []
    at = start
    for i in range(count):
        at += timedelta(seconds=PERIOD)
        if rng.random() < 0.05:
            at += timedelta(seconds=PERIOD)  # a gap
        clock: Data = _stamp(at)
        if i and rng.random() < 0.3:
            clock = None  # IDIS null clock: previous + period
        if rng.random() < 0.03:
            clock = _stamp(at + timedelta(seconds=37))  # a row off the grid (clock change)
        cells: list[Data] = [clock, Unsigned(rng.randrange(256))]
        cells += [
            None if rng.random() < 0.05 else DoubleLongUnsigned(rng.randrange(10**6)) for _ in LNS
        ]
        rows.append(cells)
    return rows


@pytest.mark.parametrize("seed", range(8))
def test_dq1_one_pass_equals_rows_filter_and_interval_days(seed: int) -> None:
    rng = random.Random(seed)
    begin = datetime(2025, 3, 8, 20, tzinfo=UTC)
    buffer = _buffer(rng, begin, 300)
    span = (begin + timedelta(hours=3), begin + timedelta(hours=3 + 40))
    meter, at = uuid4(), datetime(2025, 3, 12, tzinfo=UTC)
    rows = [r for r in decode.rows(buffer, COLUMNS, PERIOD) if span[0] < r.at <= span[1]]
    expected = decode.interval_days(meter, rows, PERIOD, registered_at=at, source="s")
    got = decode.load_profile_days(
        meter, buffer, COLUMNS, PERIOD, span, registered_at=at, source="s"
    )
    assert got == expected
    assert len(got) >= 6


@pytest.mark.parametrize(
    "bad",
    [
        "not a list",
        [[None, Unsigned(0), DoubleLongUnsigned(1), None, None]],  # first row without time
        [[_stamp(datetime(2025, 3, 9, tzinfo=UTC)), Unsigned(0)]],  # wrong width
        [[_stamp(datetime(2020, 1, 1, tzinfo=UTC)), Unsigned(0), b"x", None, None]],  # not a number
        [[OctetString(bytes(12)), Unsigned(0), None, None, None]],  # wildcard date
    ],
)
def test_malformed_buffers_are_typed_errors_both_ways(bad: object) -> None:
    span = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 20, tzinfo=UTC))
    with pytest.raises(DecodeError):
        decode.rows(bad, COLUMNS, PERIOD)  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        decode.load_profile_days(
            uuid4(),
            bad,
            COLUMNS,
            PERIOD,
            span,
            registered_at=span[0],
            source="s",  # type: ignore[arg-type]
        )
