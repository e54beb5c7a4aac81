"""The server (meter) side of a DLMS/COSEM association, sans-IO.

One :class:`ServerAssociation` lives per connection. It checks the AARQ against the configuration of
the client SAP that connected (mechanism, secret, ciphering policy: MTR-2), runs HLS passes 2-4,
enforces the object's access rights for every GET/SET/ACTION, deciphers and ciphers in the kind the
client used, splits long answers into blocks, and reports security-relevant happenings (failed
authentication, replay, refused plaintext) as events, so the meter can journal them (EVT-1).

What the objects *are* is not its business: a :class:`CosemHandler` (the virtual meter) answers.
"""

from __future__ import annotations

import enum
import hmac
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from . import axdr
from .acse import (
    Aare,
    Aarq,
    AcseServiceUserDiagnostic,
    ApplicationContext,
    AssociationResult,
    Mechanism,
    ResultSourceDiagnostic,
    Rlre,
    Rlrq,
    decode_acse,
)
from .association import (
    ASSOCIATION_LN_CLASS,
    BLOCK_OVERHEAD,
    CURRENT_ASSOCIATION,
    REPLY_TO_HLS_AUTHENTICATION,
)
from .cosem.access import AccessRights
from .data import Data, OctetString
from .errors import DecodeError, DlmsError, ProtocolError, SecurityError
from .hls import (
    ecdsa_sign_challenge,
    ecdsa_verify_challenge,
    gmac_response,
    verify_gmac_response,
)
from .initiate import (
    ConfirmedServiceError,
    Conformance,
    ExceptionResponse,
    InitiateResponse,
    decode_initiate_request,
)
from .protection import ApduProtection, SecurityContext
from .security import CipheringKind, SecurityControl
from .signing import verify_signed_apdu
from .xdlms.action import (
    ActionOutcome,
    ActionRequestNextPBlock,
    ActionRequestNormal,
    ActionRequestWithFirstPBlock,
    ActionRequestWithList,
    ActionRequestWithPBlock,
    ActionResponseNextPBlock,
    ActionResponseNormal,
    ActionResponseWithList,
)
from .xdlms.blocks import BlockAssembler, split_blocks
from .xdlms.codec import decode_apdu, encode_apdu
from .xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    ExplicitNull,
    InvokeIdAndPriority,
    MethodDescriptor,
    SelectiveAccess,
)
from .xdlms.get import (
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
)
from .xdlms.set import (
    SetRequestNormal,
    SetRequestWithDataBlock,
    SetRequestWithFirstDataBlock,
    SetRequestWithList,
    SetResponseDataBlock,
    SetResponseLastDataBlock,
    SetResponseNormal,
    SetResponseWithList,
)

#: exception-response (Green Book: [216]); never ciphered.
EXCEPTION_RESPONSE_TAG = 0xD8

#: What a meter offers by default (the client's proposal is intersected with it).
DEFAULT_SERVER_CONFORMANCE = (
    Conformance.GET
    | Conformance.SET
    | Conformance.ACTION
    | Conformance.SELECTIVE_ACCESS
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
    | Conformance.BLOCK_TRANSFER_WITH_ACTION
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.EVENT_NOTIFICATION
    | Conformance.DATA_NOTIFICATION
)


@dataclass(frozen=True)
class AssociationConfig:
    """What the meter requires of one client SAP (e.g. 16 Public, 1 management, 2 reading).

    ``security`` holds the *server's* system title and the keys of this association (and, for
    HLS-ECDSA and signed commands, the client's public key as ``peer_signing_key``).
    """

    client_sap: int
    name: str
    mechanism: Mechanism = Mechanism.NONE
    password: bytes | None = field(default=None, repr=False)
    security: SecurityContext | None = None
    conformance: Conformance = DEFAULT_SERVER_CONFORMANCE
    max_receive_pdu_size: int = 1024
    max_request_size: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.mechanism == Mechanism.LLS and not self.password:
            raise SecurityError("an LLS association needs a password")
        if self.mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_ECDSA) and self.security is None:
            raise SecurityError(f"an {self.mechanism.name} association needs keys")


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, handed to the meter model with every request (for journals and policy).

    ``authenticated`` means the APDU itself carried cryptographic authentication, which is what the
    Blue Book's "authenticated" access modes require; ``signed`` that it came in general-signing.
    """

    client_sap: int
    association: str
    authenticated: bool
    ciphered: bool
    signed: bool
    client_system_title: bytes | None


class CosemHandler(Protocol):
    """The object model behind a server: the virtual meter implements this."""

    def rights(self, ctx: RequestContext, class_id: int, instance: bytes) -> AccessRights | None:
        """The object's access rights for this association, or ``None`` if it is not visible."""

    def get(
        self, ctx: RequestContext, attribute: AttributeDescriptor, access: SelectiveAccess | None
    ) -> Data | DataAccessResult: ...

    def set(
        self,
        ctx: RequestContext,
        attribute: AttributeDescriptor,
        access: SelectiveAccess | None,
        value: Data,
    ) -> DataAccessResult: ...

    def action(
        self, ctx: RequestContext, method: MethodDescriptor, parameters: Data | None
    ) -> tuple[ActionResult, Data | None]: ...


class ServerState(enum.Enum):
    IDLE = "idle"
    AUTHENTICATING = "authenticating"
    ASSOCIATED = "associated"


# ------------------------------------------------------------------------------------------ events


class SecurityAlarm(enum.Enum):
    """Security-relevant happenings a meter journals (communication / security log)."""

    AUTHENTICATION_FAILED = "authentication-failed"
    REPLAY = "replay"
    DECIPHERING_FAILED = "deciphering-failed"
    PLAINTEXT_REFUSED = "plaintext-refused"
    SIGNATURE_INVALID = "signature-invalid"
    UNKNOWN_CLIENT = "unknown-client"
    INVALID_REQUEST = "invalid-request"


@dataclass(frozen=True)
class ServerAssociated:
    client_sap: int
    client_system_title: bytes | None


@dataclass(frozen=True)
class ServerReleased:
    client_sap: int


@dataclass(frozen=True)
class SecurityEvent:
    """Raised (and answered with a refusal) when a security check fails."""

    alarm: SecurityAlarm
    client_sap: int
    detail: str


ServerEvent = ServerAssociated | ServerReleased | SecurityEvent


@dataclass
class _LongGet:
    invoke_id: int
    blocks: list[bytes]
    sent: int
    kind: CipheringKind | None


@dataclass
class _LongWrite:
    """A SET or ACTION arriving in blocks."""

    invoke_id: int
    descriptor: AttributeDescriptor | MethodDescriptor
    access: SelectiveAccess | None
    assembler: BlockAssembler
    signed: bool


class ServerAssociation:
    """The server end of one connection from client SAP ``client_sap``."""

    def __init__(
        self,
        configs: Mapping[int, AssociationConfig],
        client_sap: int,
        handler: CosemHandler,
        *,
        protection: ApduProtection | None = None,
        challenge: bytes | None = None,
    ) -> None:
        self.client_sap = client_sap
        self.config = configs.get(client_sap)
        self.handler = handler
        self.state = ServerState.IDLE
        security = self.config.security if self.config is not None else None
        self.protection = protection if protection is not None else ApduProtection(security)
        self._challenge = challenge
        self._client_challenge = b""
        self._client_max_pdu = 0xFFFF
        self._conformance = Conformance(0)
        self._outbox: deque[bytes] = deque()
        self._events: deque[ServerEvent] = deque()
        self._long_get: _LongGet | None = None
        self._long_write: _LongWrite | None = None

    # ----------------------------------------------------------------------------- caller API

    def apdus_to_send(self) -> list[bytes]:
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def next_event(self) -> ServerEvent | None:
        return self._events.popleft() if self._events else None

    def receive_apdu(self, apdu: bytes) -> None:
        """Process one request. Malformed or refused input is answered (or dropped) and reported;
        it never raises out of the server and never changes accepted state."""
        try:
            self._receive(apdu)
        except SecurityError as exc:
            alarm = (
                SecurityAlarm.REPLAY
                if type(exc).__name__ == "ReplayError"
                else SecurityAlarm.PLAINTEXT_REFUSED
                if "unciphered" in str(exc) or "weaker" in str(exc)
                else SecurityAlarm.DECIPHERING_FAILED
            )
            self._alarm(alarm, str(exc))
            self._outbox.append(ExceptionResponse.deciphering_error().encode())
        except (DecodeError, ProtocolError) as exc:
            self._alarm(SecurityAlarm.INVALID_REQUEST, str(exc))
            self._outbox.append(ExceptionResponse.service_unknown().encode())

    # ---------------------------------------------------------------------------- internals

    def _alarm(self, alarm: SecurityAlarm, detail: str) -> None:
        self._events.append(SecurityEvent(alarm, self.client_sap, detail))

    def _receive(self, apdu: bytes) -> None:
        if not apdu:
            raise DecodeError("empty APDU", 0)
        if apdu[0] in (0x60, 0x62):
            message = decode_acse(apdu)
            if isinstance(message, Aarq):
                self._on_aarq(message)
            elif isinstance(message, Rlrq):
                self._on_rlrq()
            return
        if self.state is ServerState.IDLE:
            raise ProtocolError("xDLMS request before an association")
        signed = False
        if apdu[0] == 0xDF:
            apdu = self._verify_signature(apdu)
            signed = True
        unprotected = self.protection.unprotect(apdu)
        request = decode_apdu(unprotected.apdu)
        ctx = self._context(
            ciphered=unprotected.kind is not None,
            authenticated=unprotected.control is not None and unprotected.control.authenticated,
            signed=signed,
        )
        answer = self._serve(ctx, request)
        if answer is not None:
            # exception-response has no ciphered form: it is always sent plain.
            if answer[0] != EXCEPTION_RESPONSE_TAG:
                answer = self.protection.protect(answer, unprotected.kind)
            self._outbox.append(answer)

    def _verify_signature(self, apdu: bytes) -> bytes:
        ctx = self.protection.context
        if ctx is None or ctx.peer_signing_key is None:
            raise SecurityError("signed APDU but no client public key configured")
        try:
            return verify_signed_apdu(apdu, ctx.peer_signing_key).content
        except (SecurityError, DecodeError) as exc:
            self._alarm(SecurityAlarm.SIGNATURE_INVALID, "general-signing verification failed")
            raise SecurityError("signed APDU refused") from exc

    def _context(self, *, ciphered: bool, authenticated: bool, signed: bool) -> RequestContext:
        assert self.config is not None
        return RequestContext(
            client_sap=self.client_sap,
            association=self.config.name,
            authenticated=authenticated,
            ciphered=ciphered,
            signed=signed,
            client_system_title=self.protection.peer_system_title,
        )

    # ------------------------------------------------------------------------ association

    def _reject(self, diagnostic: AcseServiceUserDiagnostic, context: ApplicationContext) -> None:
        aare = Aare(
            application_context=context,
            result=AssociationResult.REJECTED_PERMANENT,
            diagnostic=ResultSourceDiagnostic.user(diagnostic),
        )
        self._outbox.append(aare.encode())

    def _on_aarq(self, aarq: Aarq) -> None:
        cfg = self.config
        if cfg is None:
            self._alarm(
                SecurityAlarm.UNKNOWN_CLIENT, f"no association for client SAP {self.client_sap}"
            )
            self._reject(AcseServiceUserDiagnostic.NO_REASON_GIVEN, aarq.application_context)
            return
        if self.state is not ServerState.IDLE:
            self._reject(AcseServiceUserDiagnostic.NO_REASON_GIVEN, aarq.application_context)
            return
        ciphered = cfg.security is not None
        wanted = ApplicationContext.LN_CIPHERED if ciphered else ApplicationContext.LN
        if aarq.application_context != wanted:
            self._reject(
                AcseServiceUserDiagnostic.APPLICATION_CONTEXT_NAME_NOT_SUPPORTED,
                aarq.application_context,
            )
            return
        mechanism = aarq.mechanism if aarq.mechanism is not None else Mechanism.NONE
        if mechanism != cfg.mechanism:
            diag = (
                AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_REQUIRED
                if mechanism == Mechanism.NONE
                else AcseServiceUserDiagnostic.AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
            )
            self._alarm(SecurityAlarm.AUTHENTICATION_FAILED, f"mechanism {mechanism.name} refused")
            self._reject(diag, wanted)
            return
        if mechanism == Mechanism.LLS and not hmac.compare_digest(
            bytes(aarq.calling_authentication_value or b""), cfg.password or b""
        ):
            self._alarm(SecurityAlarm.AUTHENTICATION_FAILED, "wrong LLS password")
            self._reject(AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE, wanted)
            return
        if ciphered:
            if aarq.calling_ap_title is None or len(aarq.calling_ap_title) != 8:
                self._reject(AcseServiceUserDiagnostic.NO_REASON_GIVEN, wanted)
                return
            self.protection.peer_system_title = bytes(aarq.calling_ap_title)
        info = aarq.user_information or b""
        initiate_kind: CipheringKind | None = None
        try:
            unprotected = self.protection.unprotect(info)
            initiate_kind = unprotected.kind
            request = decode_initiate_request(unprotected.apdu)
        except SecurityError as exc:
            self._alarm(SecurityAlarm.AUTHENTICATION_FAILED, f"initiate request: {exc}")
            self._reject(AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE, wanted)
            self.protection.peer_system_title = None
            return
        if request.proposed_dlms_version < 6:
            error = ConfirmedServiceError.initiate_dlms_version_too_low().encode()
            self._outbox.append(
                Aare(
                    application_context=wanted,
                    result=AssociationResult.REJECTED_PERMANENT,
                    diagnostic=ResultSourceDiagnostic.user(
                        AcseServiceUserDiagnostic.NO_REASON_GIVEN
                    ),
                    user_information=self.protection.protect(error, initiate_kind),
                ).encode()
            )
            return
        self.protection.dedicated_key = request.dedicated_key
        self._client_max_pdu = request.client_max_receive_pdu_size or 0xFFFF
        self._conformance = request.proposed_conformance & cfg.conformance
        response = InitiateResponse(
            negotiated_conformance=self._conformance,
            server_max_receive_pdu_size=cfg.max_receive_pdu_size,
        ).encode()
        if ciphered:
            response = self.protection.protect(response, initiate_kind or CipheringKind.GLO)
        hls = mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_ECDSA)
        if hls:
            self._client_challenge = bytes(aarq.calling_authentication_value or b"")
            if not 8 <= len(self._client_challenge) <= 64:
                self._alarm(SecurityAlarm.AUTHENTICATION_FAILED, "HLS challenge length")
                self._reject(AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE, wanted)
                return
            if self._challenge is None:
                self._challenge = secrets.token_bytes(16)
        aare = Aare(
            application_context=wanted,
            result=AssociationResult.ACCEPTED,
            diagnostic=ResultSourceDiagnostic.user(
                AcseServiceUserDiagnostic.AUTHENTICATION_REQUIRED
                if hls
                else AcseServiceUserDiagnostic.NULL
            ),
            responding_ap_title=cfg.security.system_title if cfg.security is not None else None,
            mechanism=mechanism if mechanism != Mechanism.NONE else None,
            responding_authentication_value=self._challenge if hls else None,
            user_information=response,
        )
        self._outbox.append(aare.encode())
        if hls:
            self.state = ServerState.AUTHENTICATING
        else:
            self.state = ServerState.ASSOCIATED
            self._events.append(
                ServerAssociated(self.client_sap, self.protection.peer_system_title)
            )

    def _on_rlrq(self) -> None:
        was = self.state
        self.state = ServerState.IDLE
        self._long_get = None
        self._long_write = None
        self._outbox.append(Rlre(reason=None, user_information=None).encode())
        if was is not ServerState.IDLE:
            self._events.append(ServerReleased(self.client_sap))

    def _hls_pass(self, request: ActionRequestNormal) -> bytes:
        """HLS passes 3 and 4: check the client's proof, answer with ours."""
        cfg = self.config
        assert cfg is not None and cfg.security is not None
        ctx = cfg.security
        proof = request.parameters
        client_title = self.protection.peer_system_title
        try:
            if not isinstance(proof, bytes) or client_title is None:
                raise SecurityError("HLS proof missing")
            if cfg.mechanism == Mechanism.HLS_GMAC:
                verify_gmac_response(
                    proof,
                    client_title,
                    ctx.encryption_key,
                    ctx.authentication_key,
                    self._challenge or b"",
                )
                answer = gmac_response(
                    SecurityControl(suite=ctx.suite, authenticated=True, encrypted=False),
                    ctx.system_title,
                    self.protection.counter.next(),
                    ctx.encryption_key,
                    ctx.authentication_key,
                    self._client_challenge,
                )
            else:
                if ctx.peer_signing_key is None or ctx.signing_key is None:
                    raise SecurityError("HLS-ECDSA keys are not configured")
                ecdsa_verify_challenge(
                    ctx.peer_signing_key,
                    proof,
                    client_title,
                    ctx.system_title,
                    self._challenge or b"",
                    self._client_challenge,
                )
                answer = ecdsa_sign_challenge(
                    ctx.signing_key,
                    ctx.system_title,
                    client_title,
                    self._client_challenge,
                    self._challenge or b"",
                )
        except SecurityError as exc:
            self._alarm(SecurityAlarm.AUTHENTICATION_FAILED, f"HLS pass 3: {exc}")
            self.state = ServerState.IDLE
            return encode_apdu(
                ActionResponseNormal(request.invoke, ActionResult.OTHER_REASON, None)
            )
        self.state = ServerState.ASSOCIATED
        self._events.append(ServerAssociated(self.client_sap, client_title))
        return encode_apdu(
            ActionResponseNormal(request.invoke, ActionResult.SUCCESS, OctetString(answer))
        )

    # ----------------------------------------------------------------------------- services

    def _serve(self, ctx: RequestContext, request: object) -> bytes | None:
        if self.state is ServerState.AUTHENTICATING:
            if (
                isinstance(request, ActionRequestNormal)
                and request.method.class_id == ASSOCIATION_LN_CLASS
                and bytes(request.method.instance_id) == CURRENT_ASSOCIATION
                and request.method.method_id == REPLY_TO_HLS_AUTHENTICATION
            ):
                return self._hls_pass(request)
            return ExceptionResponse.service_not_allowed().encode()
        if isinstance(request, GetRequestNormal):
            return self._get(ctx, request)
        if isinstance(request, GetRequestNext):
            return self._get_next(request)
        if isinstance(request, GetRequestWithList):
            results = [self._get_one(ctx, attr, access) for attr, access in request.items]
            return self._fit_get(request.invoke, GetResponseWithList(request.invoke, results))
        if isinstance(request, SetRequestNormal):
            result = self._set_one(ctx, request.attribute, request.access, request.value)
            return encode_apdu(SetResponseNormal(request.invoke, result))
        if isinstance(request, SetRequestWithList):
            set_results = [
                self._set_one(ctx, attr, access, value)
                for (attr, access), value in zip(request.items, request.values, strict=False)
            ]
            return encode_apdu(SetResponseWithList(request.invoke, set_results))
        if isinstance(request, SetRequestWithFirstDataBlock):
            return self._first_write_block(ctx, request, request.attribute, request.access)
        if isinstance(request, SetRequestWithDataBlock):
            return self._next_write_block(ctx, request)
        if isinstance(request, ActionRequestNormal):
            params = None if isinstance(request.parameters, ExplicitNull) else request.parameters
            return self._action(ctx, request.invoke, request.method, params)
        if isinstance(request, ActionRequestWithList):
            outcomes: list[ActionOutcome] = [
                self._action_one(ctx, method, params)
                for method, params in zip(request.methods, request.parameters, strict=False)
            ]
            return encode_apdu(ActionResponseWithList(request.invoke, outcomes))
        if isinstance(request, ActionRequestWithFirstPBlock):
            return self._first_write_block(ctx, request, request.method, None)
        if isinstance(request, ActionRequestWithPBlock):
            return self._next_write_block(ctx, request)
        if isinstance(request, ActionRequestNextPBlock):
            return ExceptionResponse.service_not_allowed().encode()
        return ExceptionResponse.service_unknown().encode()

    def _get_one(
        self, ctx: RequestContext, attribute: AttributeDescriptor, access: SelectiveAccess | None
    ) -> Data | DataAccessResult:
        rights = self.handler.rights(ctx, attribute.class_id, bytes(attribute.instance_id))
        if rights is None:
            return DataAccessResult.OBJECT_UNDEFINED
        if not rights.may_read(attribute.attribute_id, ctx.authenticated):
            return DataAccessResult.READ_WRITE_DENIED
        return self.handler.get(ctx, attribute, access)

    def _get(self, ctx: RequestContext, request: GetRequestNormal) -> bytes:
        result = self._get_one(ctx, request.attribute, request.access)
        return self._fit_get(request.invoke, GetResponseNormal(request.invoke, result))

    def _fit_get(self, invoke: InvokeIdAndPriority, response: object) -> bytes:
        """Send the answer whole, or in blocks when it exceeds what the client can receive."""
        encoded = encode_apdu(response)  # type: ignore[arg-type]
        limit = self._client_max_pdu - BLOCK_OVERHEAD
        if len(encoded) <= self._client_max_pdu - BLOCK_OVERHEAD // 2:
            return encoded
        if isinstance(response, GetResponseNormal):
            raw = (
                axdr.encode(response.result)
                if not isinstance(response.result, DataAccessResult)
                else b""
            )
        else:
            return encode_apdu(GetResponseNormal(invoke, DataAccessResult.OTHER_REASON))
        blocks = split_blocks(raw, max(16, limit))
        self._long_get = _LongGet(invoke.invoke_id, blocks, 1, None)
        return encode_apdu(GetResponseWithDataBlock(invoke, len(blocks) == 1, 1, blocks[0]))

    def _get_next(self, request: GetRequestNext) -> bytes:
        long_get = self._long_get
        if long_get is None:
            return encode_apdu(
                GetResponseWithDataBlock(
                    request.invoke,
                    True,
                    request.block_number,
                    DataAccessResult.NO_LONG_GET_IN_PROGRESS,
                )
            )
        if request.block_number != long_get.sent:
            self._long_get = None
            return encode_apdu(
                GetResponseWithDataBlock(
                    request.invoke,
                    True,
                    request.block_number,
                    DataAccessResult.DATA_BLOCK_NUMBER_INVALID,
                )
            )
        number = long_get.sent + 1
        block = long_get.blocks[number - 1]
        last = number == len(long_get.blocks)
        long_get.sent = number
        if last:
            self._long_get = None
        return encode_apdu(GetResponseWithDataBlock(request.invoke, last, number, block))

    def _set_one(
        self,
        ctx: RequestContext,
        attribute: AttributeDescriptor,
        access: SelectiveAccess | None,
        value: Data,
    ) -> DataAccessResult:
        rights = self.handler.rights(ctx, attribute.class_id, bytes(attribute.instance_id))
        if rights is None:
            return DataAccessResult.OBJECT_UNDEFINED
        if not rights.may_write(attribute.attribute_id, ctx.authenticated):
            return DataAccessResult.READ_WRITE_DENIED
        return self.handler.set(ctx, attribute, access, value)

    def _action_one(
        self, ctx: RequestContext, method: MethodDescriptor, parameters: Data | None
    ) -> tuple[ActionResult, Data | None]:
        rights = self.handler.rights(ctx, method.class_id, bytes(method.instance_id))
        if rights is None:
            return ActionResult.OBJECT_UNDEFINED, None
        if not rights.may_call(method.method_id, ctx.authenticated):
            return ActionResult.READ_WRITE_DENIED, None
        return self.handler.action(ctx, method, parameters)

    def _action(
        self,
        ctx: RequestContext,
        invoke: InvokeIdAndPriority,
        method: MethodDescriptor,
        parameters: Data | None,
    ) -> bytes:
        result, data = self._action_one(ctx, method, parameters)
        return encode_apdu(ActionResponseNormal(invoke, result, data))

    def _first_write_block(
        self,
        ctx: RequestContext,
        request: SetRequestWithFirstDataBlock | ActionRequestWithFirstPBlock,
        descriptor: AttributeDescriptor | MethodDescriptor,
        access: SelectiveAccess | None,
    ) -> bytes:
        assert self.config is not None
        assembler = BlockAssembler(max_total=self.config.max_request_size)
        self._long_write = _LongWrite(
            request.invoke.invoke_id, descriptor, access, assembler, ctx.signed
        )
        return self._accept_block(ctx, request)

    def _next_write_block(
        self, ctx: RequestContext, request: SetRequestWithDataBlock | ActionRequestWithPBlock
    ) -> bytes:
        if self._long_write is None:
            return _block_refusal(request, DataAccessResult.NO_LONG_SET_IN_PROGRESS)
        return self._accept_block(ctx, request)

    def _accept_block(
        self,
        ctx: RequestContext,
        request: SetRequestWithFirstDataBlock
        | SetRequestWithDataBlock
        | ActionRequestWithFirstPBlock
        | ActionRequestWithPBlock,
    ) -> bytes:
        long_write = self._long_write
        assert long_write is not None
        is_set = isinstance(request, SetRequestWithFirstDataBlock | SetRequestWithDataBlock)
        try:
            long_write.assembler.add(request.block_number, request.raw_data, request.last_block)
        except DlmsError:
            self._long_write = None
            return _block_refusal(request, DataAccessResult.DATA_BLOCK_NUMBER_INVALID)
        if not request.last_block:
            if is_set:
                return encode_apdu(SetResponseDataBlock(request.invoke, request.block_number))
            return encode_apdu(ActionResponseNextPBlock(request.invoke, request.block_number))
        self._long_write = None
        value = axdr.decode(long_write.assembler.result())
        ctx = RequestContext(
            ctx.client_sap,
            ctx.association,
            ctx.authenticated,
            ctx.ciphered,
            ctx.signed and long_write.signed,
            ctx.client_system_title,
        )
        if is_set:
            assert isinstance(long_write.descriptor, AttributeDescriptor)
            result = self._set_one(ctx, long_write.descriptor, long_write.access, value)
            return encode_apdu(
                SetResponseLastDataBlock(request.invoke, result, request.block_number)
            )
        assert isinstance(long_write.descriptor, MethodDescriptor)
        return self._action(ctx, request.invoke, long_write.descriptor, value)


def _block_refusal(
    request: SetRequestWithFirstDataBlock
    | SetRequestWithDataBlock
    | ActionRequestWithFirstPBlock
    | ActionRequestWithPBlock,
    set_result: DataAccessResult,
) -> bytes:
    """End a SET or ACTION block transfer with a refusal: SET answers with ``set_result`` in its
    last-block response; ACTION has no such code and answers other-reason."""
    if isinstance(request, SetRequestWithFirstDataBlock | SetRequestWithDataBlock):
        return encode_apdu(
            SetResponseLastDataBlock(request.invoke, set_result, request.block_number)
        )
    return encode_apdu(ActionResponseNormal(request.invoke, ActionResult.OTHER_REASON, None))
