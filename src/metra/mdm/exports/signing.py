"""Signing and verifying a report with the operator's key (ACC-4, S2 4.2.13v).

An enveloped XML Signature (W3C XMLDSig via `signxml`): SHA-256 digest, ECDSA P-256 / P-384
with SHA-256 or RSA (2048 bits and more) with SHA-256 chosen by the key, exclusive of nothing:
the whole document (`URI=""`) is signed, canonicalised with C14N 1.1, and the operator's X.509
certificate is embedded so the recipient sees who signed. Verification trusts only the
certificate the verifier supplies (the operator's, obtained out of band), never the one in the
file, and returns the signed document as it was signed. There is no default key: the caller
brings the operator's private key (PEM, optionally encrypted) and certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import VerifyResult, XMLVerifier

from metra.mdm.exports.errors import SignatureError

MAX_REPORT_BYTES = 512 * 1024 * 1024  # bounded parsing of what is verified


@dataclass(frozen=True)
class Verified:
    """A report whose signature holds: the signer's certificate subject and the signed XML."""

    subject: str
    signed_xml: bytes


def _key(key_pem: bytes, password: bytes | None) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=password)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"the signing key cannot be read: {exc}") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise SignatureError(f"ECDSA keys must be P-256 or P-384, not {key.curve.name}")
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SignatureError(f"RSA keys must have at least 2048 bits, not {key.key_size}")
        return key
    raise SignatureError("the signing key must be ECDSA (P-256 / P-384) or RSA")


def _certificate(cert_pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise SignatureError(f"the certificate cannot be read: {exc}") from None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def sign_xml(
    document: bytes, key_pem: bytes, cert_pem: bytes, password: bytes | None = None
) -> bytes:
    """The document with an enveloped signature appended to its root element."""
    key = _key(key_pem, password)
    cert = _certificate(cert_pem)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise SignatureError("the certificate does not belong to the signing key")
    method = (
        SignatureMethod.ECDSA_SHA256
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else SignatureMethod.RSA_SHA256
    )
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError as exc:
        raise SignatureError(f"the report is not well-formed XML: {exc}") from None
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
    )
    signed = signer.sign(root, key=key, cert=[cert])
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def verify_xml(document: bytes, cert_pem: bytes) -> Verified:
    """Check the enveloped signature against the operator's certificate; `SignatureError` when
    the file was changed after signing, signed by another key or carries no signature."""
    if len(document) > MAX_REPORT_BYTES:
        raise SignatureError(f"the report is larger than {MAX_REPORT_BYTES} octets")
    cert = _certificate(cert_pem)
    try:
        result = XMLVerifier().verify(
            document,
            x509_cert=cert,
        )
    except (InvalidSignature, InvalidInput) as exc:
        raise SignatureError(f"signature does not verify: {exc}") from None
    except etree.XMLSyntaxError as exc:
        raise SignatureError(f"the report is not well-formed XML: {exc}") from None
    if not isinstance(result, VerifyResult):
        raise SignatureError("the report carries more than one signature")
    signed = result.signed_xml
    body = b"" if signed is None else bytes(etree.tostring(signed))
    return Verified(cert.subject.rfc4514_string(), body)
