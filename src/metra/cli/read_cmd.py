"""``metra read``: read one attribute (or a profile by range) from a real or virtual meter."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from metra.dlms.acse import Mechanism
from metra.dlms.client import ClientSettings
from metra.dlms.data import Data
from metra.dlms.describe import data_to_json
from metra.dlms.errors import DlmsError
from metra.dlms.obis import Obis
from metra.dlms.protection import SecurityContext
from metra.net.client import DlmsClient, Endpoint, published_invocation_counter
from metra.net.errors import TransportError

from .common import fail, parse_hex


class Auth(StrEnum):
    none = "none"
    lls = "lls"
    hls_gmac = "hls-gmac"
    hls_ecdsa = "hls-ecdsa"


class TransportChoice(StrEnum):
    wrapper = "wrapper"
    hdlc = "hdlc"


_MECHANISMS = {
    Auth.none: Mechanism.NONE,
    Auth.lls: Mechanism.LLS,
    Auth.hls_gmac: Mechanism.HLS_GMAC,
    Auth.hls_ecdsa: Mechanism.HLS_ECDSA,
}


def _load_private(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        fail(f"{path} is not an EC private key")
    return key


def _load_public(path: Path) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        fail(f"{path} is not an EC public key")
    return key


def _parse_time(text: str, what: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"{what} is not an ISO date-time")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def read_command(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(4059, "--port"),
    transport: TransportChoice = typer.Option(TransportChoice.wrapper, "--transport"),
    client: int = typer.Option(16, "--client", help="Client SAP (16 Public, 1 management, ...)."),
    server: int = typer.Option(1, "--server", help="Server logical device address."),
    physical: int = typer.Option(0, "--physical", help="HDLC physical (lower) address."),
    address_size: int = typer.Option(1, "--address-size", help="HDLC server address size: 1/2/4."),
    auth: Auth = typer.Option(Auth.none, "--auth"),
    password: str | None = typer.Option(None, "--password", envvar="METRA_PASSWORD"),
    ek: str | None = typer.Option(None, "--ek", envvar="METRA_EK", help="Encryption key (hex)."),
    ak: str | None = typer.Option(None, "--ak", envvar="METRA_AK", help="Authentication key."),
    system_title: str | None = typer.Option(
        None, "--system-title", help="The client's own system title (8 bytes hex)."
    ),
    signing_key: Path | None = typer.Option(None, "--signing-key", help="Client EC key (PEM)."),
    server_key: Path | None = typer.Option(None, "--server-key", help="Meter EC public key."),
    suite: int = typer.Option(0, "--suite", help="Security suite (0 or 1)."),
    obis: str | None = typer.Option(None, "--obis", help="Logical name, e.g. 0.0.1.0.0.255."),
    class_id: int = typer.Option(8, "--class", help="Interface class id."),
    attr: int = typer.Option(2, "--attr", help="Attribute index."),
    profile: str | None = typer.Option(None, "--profile", help="Profile generic OBIS to read."),
    start: str | None = typer.Option(None, "--from", help="Profile range start (ISO)."),
    end: str | None = typer.Option(None, "--to", help="Profile range end (ISO)."),
    tls: bool = typer.Option(False, "--tls", help="TLS 1.3 to the communication module."),
    ca: Path | None = typer.Option(None, "--ca", help="CA bundle to verify the meter's TLS."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for each answer."),
    counter: int | None = typer.Option(
        None,
        "--counter",
        help="First invocation counter to send (default with ciphering: the meter's published "
        "0-0:43.1.<client>.255, read through the Public client).",
    ),
) -> None:
    """Read any attribute of a meter over TCP and print it as JSON (COL-7)."""
    if (obis is None) == (profile is None):
        fail("give exactly one of --obis or --profile")
    target = profile if profile is not None else obis
    assert target is not None
    try:
        logical_name = Obis.parse(target).to_bytes()
    except ValueError as exc:
        fail(f"bad OBIS code: {exc}")
    security = None
    if ek is not None or ak is not None or auth in (Auth.hls_gmac, Auth.hls_ecdsa):
        if ek is None or ak is None or system_title is None:
            fail(f"{auth.value} / ciphering needs --ek, --ak and --system-title")
        security = SecurityContext(
            system_title=parse_hex(system_title, "--system-title", length=8),
            encryption_key=parse_hex(ek, "--ek"),
            authentication_key=parse_hex(ak, "--ak"),
            suite=suite,
            signing_key=_load_private(signing_key) if signing_key else None,
            peer_signing_key=_load_public(server_key) if server_key else None,
        )
    try:
        settings = ClientSettings(
            mechanism=_MECHANISMS[auth],
            password=password.encode() if password is not None else None,
            security=security,
        )
    except DlmsError as exc:
        fail(str(exc))
    tls_context = None
    if tls:
        tls_context = ssl.create_default_context(cafile=str(ca) if ca else None)
        tls_context.minimum_version = ssl.TLSVersion.TLSv1_3
    endpoint = Endpoint(
        host,
        port,
        transport.value,
        client,
        server,
        physical,
        address_size,
        tls_context,
        timeout,
    )
    window = None
    if profile is not None:
        if start is None or end is None:
            fail("--profile needs --from and --to")
        window = (_parse_time(start, "--from"), _parse_time(end, "--to"))

    async def run() -> Data:
        start = counter
        if start is None and security is not None:
            try:
                start = await published_invocation_counter(endpoint, client)
            except TransportError:
                raise
            except DlmsError as exc:
                # Not every meter publishes its counters to the Public client; then the first
                # session after the meter's reset is the only one a fresh counter can open.
                typer.echo(
                    f"note: no published invocation counter ({exc}); starting at 0", err=True
                )
        session = settings if start is None else replace(settings, invocation_counter=start)
        async with DlmsClient(endpoint, session) as meter:
            if window is not None:
                return await meter.get_profile(logical_name, *window)
            return await meter.get(class_id, logical_name, attr)

    try:
        value = asyncio.run(run())
    except DlmsError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"connection failed: {exc}")
    result = {
        "obis": str(Obis.from_bytes(logical_name)),
        "class": 7 if profile is not None else class_id,
        "attribute": 2 if profile is not None else attr,
        "value": data_to_json(value),
    }
    typer.echo(json.dumps(result, indent=2))
