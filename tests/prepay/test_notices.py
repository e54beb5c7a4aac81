"""Customer notices (PRE-3, PRE-4): the low-credit warning below the threshold, the balance at
least once a day, and delivery through real adapters: e-mail to an SMTP server (aiosmtpd) and
SMS to an HTTP gateway, both started here on loopback; the local outbox by default."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Connection

from metra.prepay import accounts, ledger, notices, tariffs, units
from metra.prepay.errors import NotifyFailed
from metra.prepay.notifiers import SmsGatewayNotifier, SmtpNotifier
from metra.profiles import Profile

from .conftest import NOW, Point, clerk, serve_day

DAY = date(2025, 3, 11)


def account_with(
    conn: Connection, pl: Profile, point: Point, channel: str = "outbox", address: str | None = None
) -> accounts.Account:
    tariffs.set_tariff(conn, clerk, "G11", "PLN", DAY, units.parse_price("1.00"))
    return accounts.open_account(
        conn,
        clerk,
        pl,
        point.delivery_point_id,
        unit="PLN",
        starts_on=DAY,
        tariff_code="G11",
        notify_channel=channel,
        notify_address=address,
    )


def test_pre4_pre3_low_credit_once_below_threshold_and_balance_daily(
    conn: Connection, pl: Profile, point: Point
) -> None:
    """PRE-4: 25.00 PLN is above the 20.00 PLN threshold: only the balance notice (PRE-3).
    9.6 kWh at 1.00 PLN leaves 15.40 PLN: one low-credit warning, not repeated an hour later,
    and no second balance notice within 24 h; at 24 h the balance again. A top-up to 65.40 PLN
    re-arms the warning."""
    account = account_with(conn, pl, point)
    ledger.top_up(conn, clerk, account.id, 2500, payment_ref="p1", now=NOW)
    first = notices.run(conn, pl, now=NOW)
    serve_day(conn, point.meter_id, DAY, 100.0)
    ledger.charge(conn, account.id, DAY, now=NOW)
    second = notices.run(conn, pl, now=NOW + timedelta(hours=1))
    third = notices.run(conn, pl, now=NOW + timedelta(hours=2))
    fourth = notices.run(conn, pl, now=NOW + timedelta(hours=24))
    kinds = {n.id: (n.kind, n.body.split(".")[0]) for n in notices.outbox(conn, account.id)}
    assert [kinds[i] for i in first] == [("balance", "Your balance at Street a 1 is 25")]
    assert [kinds[i][0] for i in second] == ["low_credit"]
    assert "15.40 PLN, below 20.00 PLN" in notices.outbox(conn, account.id)[1].body
    assert third == []
    assert [kinds[i][0] for i in fourth] == ["balance"]
    ledger.top_up(conn, clerk, account.id, 5000, payment_ref="p2", now=NOW)
    notices.run(conn, pl, now=NOW + timedelta(hours=25))
    assert not accounts.get(conn, account.id).low_warned


class Inbox:
    """An aiosmtpd handler keeping what it received."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_pre3_email_through_a_real_smtp_server(
    conn: Connection, pl: Profile, point: Point, smtp_server: tuple[Inbox, int]
) -> None:
    """PRE-3: the daily notice goes by e-mail through SMTP; with the server unreachable it
    stays pending with the reason and is sent on the next delivery."""
    inbox, port = smtp_server
    account = account_with(conn, pl, point, "email", "anna@example.org")
    ledger.top_up(conn, clerk, account.id, 4321, payment_ref="p1", now=NOW)
    (made,) = notices.run(conn, pl, now=NOW)
    down = SmtpNotifier("127.0.0.1", free_port(), "prepay@metra.example")
    notices.deliver(conn, {"email": down}, now=NOW)
    (waiting,) = notices.listing(conn, account_id=account.id)
    assert (waiting.status, waiting.attempts) == ("pending", 1) and "smtp" in (waiting.error or "")
    up = SmtpNotifier("127.0.0.1", port, "prepay@metra.example")
    notices.deliver(conn, {"email": up}, now=NOW)
    (sent,) = notices.listing(conn, account_id=account.id)
    assert (sent.id, sent.status, sent.attempts) == (made, "sent", 2)
    ((sender, rcpt, raw),) = inbox.messages
    mail = message_from_bytes(raw)
    assert (sender, rcpt) == ("prepay@metra.example", ["anna@example.org"])
    assert mail["Subject"] == "Prepayment balance 43.21 PLN"
    assert "Your balance at Street a 1 is 43.21 PLN." in mail.get_payload()


class Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    answer = 202

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        Gateway.received.append((self.headers["Authorization"], body))
        self.send_response(Gateway.answer)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sms_gateway() -> Iterator[str]:
    Gateway.received = []
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/send"
    finally:
        server.shutdown()
        server.server_close()


def test_pre3_sms_through_an_http_gateway(
    conn: Connection, pl: Profile, point: Point, sms_gateway: str
) -> None:
    """PRE-3: the notices (low credit and balance: nothing paid yet) go as SMS through the
    gateway with its bearer token; a 503 keeps them pending for the next round; plain HTTP is
    refused to a non-loopback gateway."""
    account = account_with(conn, pl, point, "sms", "+48600100200")
    notices.run(conn, pl, now=NOW)
    sms = SmsGatewayNotifier(sms_gateway, "gw-token-1", "METRA")
    Gateway.answer = 503
    notices.deliver(conn, {"sms": sms}, now=NOW)
    assert [n.status for n in notices.listing(conn, account_id=account.id)] == ["pending"] * 2
    Gateway.answer = 202
    notices.deliver(conn, {"sms": sms}, now=NOW)
    assert [n.status for n in notices.listing(conn, account_id=account.id)] == ["sent"] * 2
    assert len(Gateway.received) == 4
    assert {auth for auth, _ in Gateway.received} == {"Bearer gw-token-1"}
    texts = [body["text"].split("\n")[0] for _, body in Gateway.received[2:]]
    assert texts == ["Low credit: 0.00 PLN", "Prepayment balance 0.00 PLN"]
    assert {body["to"] for _, body in Gateway.received} == {"+48600100200"}
    with pytest.raises(ValueError, match="loopback"):
        SmsGatewayNotifier("http://sms.example.org/send", "t", "METRA")
    with pytest.raises(NotifyFailed):
        SmsGatewayNotifier(f"http://127.0.0.1:{free_port()}/x", "t", "M").send("+4860", "s", "b")


def test_pre3_without_a_notifier_the_notice_is_held_in_the_outbox(
    conn: Connection, pl: Profile, point: Point
) -> None:
    """PRE-3: an e-mail customer's notice with no SMTP configured is not lost: it waits in the
    local outbox, saying why."""
    account = account_with(conn, pl, point, "email", "anna@example.org")
    notices.run(conn, pl, now=NOW)
    notices.deliver(conn, {}, now=NOW)
    held = notices.outbox(conn, account.id)
    assert [n.kind for n in held] == ["low_credit", "balance"]
    assert {n.error for n in held} == {"no email notifier configured"}
