"""TLS 1.3 for the fleet's communication modules: a fleet CA and the server certificate it signs.

A real meter's communication module offers TLS with a certificate from the utility's PKI; the
fleet plays both parts. It makes a CA and one server certificate for the address it serves on
(every meter of a fleet listens on the same host, so one certificate covers all of them and the
fleet holds one :class:`ssl.SSLContext`, not ten thousand). The CA certificate and the server
certificate are written next to the inventory so a head-end can verify the meters; the private
keys stay in memory (the server key passes through a private temporary file only because
:mod:`ssl` loads keys from files).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["FleetTls", "client_context", "make_fleet_tls"]

#: Validity of the fleet's certificates: long enough for any test campaign.
VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class FleetTls:
    """The fleet's TLS material: the files a client needs and the server context."""

    ca_file: Path
    cert_file: Path
    server_context: ssl.SSLContext


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "metra virtual fleet"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _make_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("metra fleet CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_server(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
    now: dt.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"metra fleet at {hosts[0]}"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _tls13_only(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    return context


def make_fleet_tls(directory: Path, stem: str, hosts: Sequence[str]) -> FleetTls:
    """Make a fresh CA and a server certificate for ``hosts``; write ``<stem>.ca.pem`` and
    ``<stem>.cert.pem`` into ``directory`` and return a TLS-1.3-only server context."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    now = dt.datetime.now(dt.UTC)
    ca_key, ca_cert = _make_ca(now)
    key, cert = _make_server(ca_key, ca_cert, hosts, now)
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / f"{stem}.ca.pem"
    cert_file = directory / f"{stem}.cert.pem"
    ca_file.write_bytes(_pem(ca_cert))
    cert_file.write_bytes(_pem(cert) + _pem(ca_cert))
    context = _tls13_only(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd, key_path = tempfile.mkstemp(prefix="metra-fleet-", suffix=".key")
    try:
        os.write(fd, key_pem)
        os.close(fd)
        context.load_cert_chain(str(cert_file), key_path)
    finally:
        os.unlink(key_path)
    return FleetTls(ca_file, cert_file, context)


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts only the fleet CA and speaks only TLS 1.3."""
    return _tls13_only(ssl.create_default_context(cafile=str(ca_file)))
