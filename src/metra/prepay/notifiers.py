"""Notifier adapters: how a notice reaches the customer (PRE-3: SMS, e-mail or the contract's
channel). A notifier hands one message over or raises `NotifyFailed`; it keeps nothing, so a
notice that failed stays pending in `prepay_notice` and is tried again (`notices.deliver`).

- `SmtpNotifier`: e-mail through an SMTP relay (smtplib), STARTTLS and log-in when configured.
- `SmsGatewayNotifier`: an HTTP SMS gateway taking ``POST {"to", "from", "text"}`` as JSON with
  a bearer token; plain HTTP only to a loopback gateway, so the token never crosses a network
  in the clear.

Notices for which no notifier is configured are held in the local outbox (the default, and the
fallback): the `prepay_notice` rows with status ``outbox`` (`notices.outbox`).
Secrets (SMTP password, gateway token) come from the caller (the CLI reads them from the
environment) and are never stored.
"""

from __future__ import annotations

import ipaddress
import json
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from .errors import NotifyFailed


class Notifier(Protocol):
    """One delivery channel (``email``, ``sms``...)."""

    @property
    def channel(self) -> str:
        """The account channel this notifier serves."""

    def send(self, address: str, subject: str, body: str) -> None:
        """Hand one message over; raise `NotifyFailed` when it was not accepted."""


@dataclass(frozen=True)
class SmtpNotifier:
    """E-mail through an SMTP server."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    channel: str = "email"

    def send(self, address: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyFailed(f"smtp {self.host}:{self.port}: {exc}") from None
        if refused:
            raise NotifyFailed(f"smtp refused {sorted(refused)}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SmsGatewayNotifier:
    """SMS through an HTTP gateway (JSON, bearer token)."""

    url: str
    token: str = field(repr=False)
    sender: str
    timeout_s: float = 10.0
    channel: str = "sms"

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("the SMS gateway URL must be http(s)://host/...")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError("plain HTTP to an SMS gateway only on the loopback interface")

    def send(self, address: str, subject: str, body: str) -> None:
        text = f"{subject}\n{body}"[:1600]  # at most ten concatenated SMS
        data = json.dumps({"to": address, "from": self.sender, "text": text}).encode()
        request = urllib.request.Request(
            self.url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise NotifyFailed(f"sms gateway answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise NotifyFailed(f"sms gateway unreachable: {exc}") from None
        if not 200 <= status < 300:
            raise NotifyFailed(f"sms gateway answered {status}")
