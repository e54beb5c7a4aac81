"""Prepayment credit transfer through the Token gateway (class 115, 0-0:19.40.0.255): a top-up
is applied exactly once per transfer id, refusals change nothing, every outcome is journaled
(PRE-1, PRE-4). Driven through the DLMS client against the meter's server association; the same
over loopback sockets is in test_fleet_loopback.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from meter.test_meter import DISCONNECT, Session, make_meter

from metra.dlms.cosem.token import (
    TOKEN_GATEWAY,
    CreditToken,
    TokenRefusal,
    TokenStatus,
    TokenStatusCode,
)
from metra.dlms.data import BitString, DoubleLong, Enum, OctetString, Structure
from metra.dlms.errors import DecodeError
from metra.dlms.xdlms.common import ActionResult, DataAccessResult
from metra.meter.credit_transfer import KEPT
from metra.meter.journal import EventCode, Log
from metra.meter.meter import VirtualMeter

GATEWAY = TOKEN_GATEWAY.to_bytes()
CREDIT = bytes.fromhex("0000130a00ff")
ISSUED = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)


def test_credit_token_layout_byte_for_byte() -> None:
    # Version 01 | transfer id 00..0f | issued 2026-01-01T00:00Z = 9497 days after 2000-01-01
    # = 820,540,800 s = 0x30e87580 | amount 12345 = 0x00003039.
    token = CreditToken(bytes(range(16)), datetime(2026, 1, 1, tzinfo=UTC), 12345)
    raw = bytes.fromhex("01" + "000102030405060708090a0b0c0d0e0f" + "30e87580" + "00003039")
    assert token.encode() == raw
    assert CreditToken.decode(raw) == token
    for bad in (raw[:-1], b"\x02" + raw[1:], raw[:21] + b"\x80\x00\x00\x00"):
        with pytest.raises(DecodeError):
            CreditToken.decode(bad)
    with pytest.raises(ValueError):
        CreditToken(b"short", ISSUED, 1)


def test_token_status_shape() -> None:
    # Blue Book token_status: structure {status_code enum, data_value bit-string}; codes 0..8
    # from "format OK" to "token received and not yet processed".
    assert [c.value for c in TokenStatusCode] == list(range(9))
    status = TokenStatus(
        TokenStatusCode.VALIDATION_RESULT_FAILURE, frozenset({TokenRefusal.PREPAYMENT_OFF})
    )
    assert status.to_data() == Structure([Enum(6), BitString("0001")])
    assert TokenStatus.from_data(status.to_data()) == status


def token(amount: int, issued: datetime = ISSUED, transfer: bytes | None = None) -> OctetString:
    return OctetString(CreditToken(transfer or uuid.uuid4().bytes, issued, amount).encode())


def prepaid() -> tuple[VirtualMeter, Session, Session]:
    meter = make_meter()
    mgmt, reading = Session(meter, 1), Session(meter, 2)
    assert mgmt.set(112, CREDIT, 10, True) == DataAccessResult.SUCCESS
    return meter, mgmt, reading


def status(s: Session) -> TokenStatus:
    return TokenStatus.from_data(s.get(115, GATEWAY, 6))  # type: ignore[arg-type]


def test_pre4_same_transfer_is_applied_once_and_a_retry_is_harmless() -> None:
    meter, mgmt, reading = prepaid()
    top_up = token(500)
    assert mgmt.act(115, GATEWAY, 1, top_up) == ActionResult.SUCCESS
    assert reading.get(112, CREDIT, 2) == DoubleLong(500)
    assert status(reading) == TokenStatus(TokenStatusCode.TOKEN_EXECUTION_OK)
    assert reading.get(115, GATEWAY, 2) == top_up
    assert reading.get(115, GATEWAY, 3) == meter.local(meter.now())
    # The head-end lost the answer and sends again: success, nothing added.
    assert mgmt.act(115, GATEWAY, 1, top_up) == ActionResult.SUCCESS
    assert reading.get(112, CREDIT, 2) == DoubleLong(500)
    assert status(reading) == TokenStatus(
        TokenStatusCode.VALIDATION_RESULT_FAILURE, frozenset({TokenRefusal.ALREADY_APPLIED})
    )
    assert mgmt.act(115, GATEWAY, 1, token(250)) == ActionResult.SUCCESS  # another transfer
    assert reading.get(112, CREDIT, 2) == DoubleLong(750)
    entries = meter.journals.entries(Log.STANDARD, meter.now())
    transfer = CreditToken.decode(bytes(top_up)).transfer_id.hex()
    added = [e for e in entries if e.code == EventCode.CREDIT_ADDED]
    assert len(added) == 2 and f"500 transfer {transfer}" in str(added[0].detail)
    refused = [e for e in entries if e.code == EventCode.CREDIT_TOKEN_REFUSED]
    assert [str(e.detail) for e in refused] == [f"{transfer} already applied"]


def test_pre4_refused_tokens_change_nothing_and_say_why() -> None:
    meter = make_meter()
    mgmt, reading = Session(meter, 1), Session(meter, 2)
    # Prepayment off: refused, the credit stays 0 even once it is switched on.
    assert mgmt.act(115, GATEWAY, 1, token(500)) == ActionResult.OTHER_REASON
    assert status(reading).refusals == {TokenRefusal.PREPAYMENT_OFF}
    assert mgmt.set(112, CREDIT, 10, True) == DataAccessResult.SUCCESS
    assert reading.get(112, CREDIT, 2) == DoubleLong(0)
    # Not a credit token; no amount; the wrong type of parameter.
    assert mgmt.act(115, GATEWAY, 1, OctetString(b"\x01" * 10)) == ActionResult.OTHER_REASON
    assert status(reading).code is TokenStatusCode.TOKEN_FORMAT_FAILURE
    assert mgmt.act(115, GATEWAY, 1, token(0)) == ActionResult.OTHER_REASON
    assert status(reading).refusals == {TokenRefusal.AMOUNT_NOT_POSITIVE}
    assert mgmt.act(115, GATEWAY, 1, DoubleLong(500)) == ActionResult.TYPE_UNMATCHED
    # MTR-2: the reading client may not enter tokens.
    assert reading.act(115, GATEWAY, 1, token(500)) == ActionResult.READ_WRITE_DENIED
    assert reading.get(112, CREDIT, 2) == DoubleLong(0)
    refused = [
        e.code
        for e in meter.journals.entries(Log.STANDARD, meter.now())
        if e.code == EventCode.CREDIT_TOKEN_REFUSED
    ]
    assert len(refused) == 3
    assert EventCode.INVALID_COMMAND in [
        e.code for e in meter.journals.entries(Log.COMMUNICATION, meter.now())
    ]


def test_pre4_a_forgotten_transfer_never_applies_again() -> None:
    """The meter remembers KEPT transfer ids; once the oldest is forgotten, every token issued
    at or before it is refused as too old, so no replay can slip past the bounded memory."""
    _meter, mgmt, reading = prepaid()
    first = token(1, ISSUED)
    assert mgmt.act(115, GATEWAY, 1, first) == ActionResult.SUCCESS
    for i in range(1, KEPT + 1):
        assert mgmt.act(115, GATEWAY, 1, token(1, ISSUED + timedelta(minutes=i))) == (
            ActionResult.SUCCESS
        )
    assert reading.get(112, CREDIT, 2) == DoubleLong(KEPT + 1)
    assert mgmt.act(115, GATEWAY, 1, first) == ActionResult.OTHER_REASON
    assert status(reading).refusals == {TokenRefusal.TOO_OLD}
    late = token(1, ISSUED - timedelta(days=1))  # never applied, but older than the floor
    assert mgmt.act(115, GATEWAY, 1, late) == ActionResult.OTHER_REASON
    fresh = token(1, ISSUED + timedelta(days=1))
    assert mgmt.act(115, GATEWAY, 1, fresh) == ActionResult.SUCCESS
    assert reading.get(112, CREDIT, 2) == DoubleLong(KEPT + 2)


def test_pre4_transfer_reconnects_a_credit_cut_in_mode_6() -> None:
    meter, mgmt, reading = prepaid()
    assert mgmt.set(70, DISCONNECT, 4, Enum(6)) == DataAccessResult.SUCCESS
    assert mgmt.act(115, GATEWAY, 1, token(1)) == ActionResult.SUCCESS
    meter.fleet_clock.advance(timedelta(hours=6))
    assert reading.get(70, DISCONNECT, 3) == Enum(2)  # cut, ready
    assert mgmt.act(115, GATEWAY, 1, token(100_000)) == ActionResult.SUCCESS
    assert reading.get(70, DISCONNECT, 3) == Enum(1)  # local reconnection
