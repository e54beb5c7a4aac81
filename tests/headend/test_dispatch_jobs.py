"""The read job and result wire format of the JetStream queue: what a worker accepts.

A queue is shared infrastructure: a job from a buggy or hostile publisher must fail with a typed
`JobError` (and be terminated, not retried), never crash a worker or read the wrong meter.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from metra.headend.collector import MeterTarget
from metra.headend.dispatch import (
    MAX_MESSAGE_BYTES,
    JobError,
    JobQueue,
    JobResult,
    JobStatus,
    ReadJob,
)

TARGET = MeterTarget(
    uuid4(),
    "MTR00000001",
    bytes.fromhex("4d54520000000001"),
    "10.1.2.3",
    4059,
    substation="SS-001",
    transport="hdlc",
    server_address=1,
    physical_address=17,
    commissioned=datetime(2025, 3, 1, tzinfo=UTC),
)
JOB = ReadJob("b1", TARGET, date(2025, 3, 9))


def test_job_round_trip_keeps_every_field_of_the_target() -> None:
    back = ReadJob.decode(JOB.encode())
    assert back == JOB
    assert back.job_id == f"{TARGET.meter_id}/2025-03-09"  # the JetStream message id


def _tampered(**changes: object) -> bytes:
    doc = json.loads(JOB.encode())
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "format"),
        (_tampered(format=2), "format"),
        (_tampered(port=70000), "port"),
        (_tampered(port="4059"), "port"),
        (_tampered(port=True), "port"),
        (_tampered(meter_id="not-a-uuid"), "malformed"),
        (_tampered(system_title="4d5452"), "system title"),
        (_tampered(system_title="zz"), "malformed"),
        (_tampered(day="2025-13-01"), "malformed"),
        (_tampered(commissioned="2025-03-01T00:00:00"), "time zone"),
        (_tampered(transport="carrier-pigeon"), "transport"),
        (_tampered(serial=...), "serial"),
        (b"{" + b" " * MAX_MESSAGE_BYTES + b"}", "exceeds"),
    ],
)
def test_malformed_job_raises_typed_error(data: bytes, why: str) -> None:
    with pytest.raises(JobError, match=why):
        ReadJob.decode(data)


def test_result_round_trip_and_rejects_unknown_status() -> None:
    result = JobResult("b1", JOB.job_id, "MTR00000001", JobStatus.RETRY, 2, "w1", "timeout", 4)
    assert JobResult.decode(result.encode()) == result
    doc = json.loads(result.encode())
    doc["status"] = "maybe"
    with pytest.raises(JobError):
        JobResult.decode(json.dumps(doc).encode())


@pytest.mark.parametrize("name", ["", "a.b", "with space", "x" * 33, "jobs>"])
def test_queue_name_must_be_a_plain_stream_name(name: str) -> None:
    with pytest.raises(JobError):
        JobQueue(name)


def test_queue_subjects_are_scoped_by_queue_name() -> None:
    queue = JobQueue("METRA_READS")
    assert queue.jobs_subject == "metra.collect.metra_reads.jobs"
    assert queue.results_subject("ab12") == "metra.collect.metra_reads.results.ab12"
    assert queue.results_stream == "METRA_READS_RESULTS"
