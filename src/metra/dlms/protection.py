"""Per-association APDU protection: the glue between the security primitives and the state machines.

Client and server both need the same three things on every xDLMS APDU: cipher outgoing ones with
the next invocation counter, decipher incoming ones, and refuse a replayed counter or an APDU weaker
than the association's policy (SEC-2). Keeping it here means the two machines cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from .counters import InvocationCounter, ReplayGuard
from .errors import SecurityError
from .security import (
    CipheringKind,
    SecurityControl,
    cipher_apdu,
    decipher_apdu,
    is_ciphered_tag,
)


@dataclass(frozen=True)
class SecurityContext:
    """One side's keys and policy for a ciphered association (IEC 62056-5-3).

    ``authenticated`` / ``encrypted`` are the protection every xDLMS APDU must carry; an incoming
    APDU with less is refused. Keys are kept out of ``repr`` so they never reach a log.
    """

    system_title: bytes
    encryption_key: bytes = field(repr=False)
    authentication_key: bytes = field(repr=False)
    suite: int = 0
    authenticated: bool = True
    encrypted: bool = True
    kind: CipheringKind = CipheringKind.GLO
    signing_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    peer_signing_key: ec.EllipticCurvePublicKey | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.system_title) != 8:
            raise SecurityError("a system title is 8 octets")
        for name, key in (
            ("encryption", self.encryption_key),
            ("authentication", self.authentication_key),
        ):
            if len(key) not in (16, 32):
                raise SecurityError(f"the {name} key must be 16 or 32 octets")

    @property
    def control(self) -> SecurityControl:
        """The security control byte for this policy."""
        return SecurityControl(
            suite=self.suite, authenticated=self.authenticated, encrypted=self.encrypted
        )

    @property
    def protects(self) -> bool:
        """True when APDUs are ciphered at all (authentication and/or encryption)."""
        return self.authenticated or self.encrypted


@dataclass(frozen=True, slots=True)
class Unprotected:
    """An incoming APDU after deciphering: the plain APDU, how it was protected, and by whom."""

    apdu: bytes
    kind: CipheringKind | None
    control: SecurityControl | None
    system_title: bytes | None
    invocation_counter: int | None


class ApduProtection:
    """Ciphering state of one association: own counter, the peer's replay guard, dedicated key."""

    def __init__(
        self,
        context: SecurityContext | None,
        counter: InvocationCounter | None = None,
        replay: ReplayGuard | None = None,
    ) -> None:
        self.context = context
        self.counter = counter if counter is not None else InvocationCounter()
        self.replay = replay if replay is not None else ReplayGuard()
        self.peer_system_title: bytes | None = None
        self.dedicated_key: bytes | None = None

    @property
    def required(self) -> bool:
        """True when every xDLMS APDU of this association must be ciphered."""
        return self.context is not None and self.context.protects

    def protect(self, apdu: bytes, kind: CipheringKind | None = None) -> bytes:
        """Cipher ``apdu`` per the policy (plain when the association has no security)."""
        ctx = self.context
        if ctx is None or not ctx.protects:
            return apdu
        kind = kind if kind is not None else ctx.kind
        return cipher_apdu(
            apdu,
            kind,
            ctx.control,
            ctx.system_title,
            self.counter.next(),
            ctx.encryption_key,
            ctx.authentication_key,
            recipient_system_title=self.peer_system_title,
            dedicated_key=self.dedicated_key,
        )

    def unprotect(self, apdu: bytes) -> Unprotected:
        """Decipher ``apdu`` when ciphered; refuse plain, weaker or replayed APDUs when required."""
        if not apdu:
            raise SecurityError("empty APDU")
        ctx = self.context
        if not is_ciphered_tag(apdu[0]):
            if self.required:
                raise SecurityError("unciphered APDU refused: the association requires ciphering")
            return Unprotected(apdu, None, None, None, None)
        if ctx is None:
            raise SecurityError("ciphered APDU on an association without security")
        deciphered = decipher_apdu(
            apdu,
            ek=ctx.encryption_key,
            ak=ctx.authentication_key,
            system_title=self.peer_system_title,
            dedicated_key=self.dedicated_key,
        )
        sc = deciphered.sc
        if (ctx.authenticated and not sc.authenticated) or (ctx.encrypted and not sc.encrypted):
            raise SecurityError("APDU protection weaker than the association's security policy")
        title = deciphered.system_title or self.peer_system_title
        if title is None:
            raise SecurityError("ciphered APDU from an unknown system title")
        self.replay.accept(title, deciphered.invocation_counter)
        return Unprotected(
            deciphered.plaintext, deciphered.kind, sc, title, deciphered.invocation_counter
        )
