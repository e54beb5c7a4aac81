"""The client (head-end) side of a DLMS/COSEM association, sans-IO.

Driven like h11: the caller asks for an operation (:meth:`ClientAssociation.get`, ...), writes the
APDUs from :meth:`ClientAssociation.apdus_to_send` to its link, feeds every APDU it receives to
:meth:`ClientAssociation.receive_apdu`, and reads results from :meth:`ClientAssociation.next_event`.
The machine does the protocol's own round trips by itself: the HLS pass 3/4 exchange, GET blocks
(``get-request-next``), SET and ACTION blocks, so callers see one result per request.
"""

from __future__ import annotations

import enum
import secrets
from collections import deque
from dataclasses import dataclass, field

from . import axdr
from .acse import (
    Aare,
    Aarq,
    ApplicationContext,
    AssociationResult,
    Mechanism,
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
from .counters import InvocationCounter
from .data import Data, OctetString
from .errors import DecodeError, ProtocolError, SecurityError
from .hls import (
    ecdsa_sign_challenge,
    ecdsa_verify_challenge,
    gmac_response,
    verify_gmac_response,
)
from .initiate import (
    Conformance,
    InitiateRequest,
    decode_confirmed_service_error,
    decode_exception_response,
    decode_initiate_response,
)
from .protection import ApduProtection, SecurityContext
from .security import CipheringKind, SecurityControl
from .signing import sign_apdu
from .xdlms.action import (
    ActionRequestNextPBlock,
    ActionRequestNormal,
    ActionRequestWithFirstPBlock,
    ActionRequestWithPBlock,
    ActionResponseNextPBlock,
    ActionResponseNormal,
    ActionResponseWithPBlock,
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
from .xdlms.notification import DataNotification, EventNotificationRequest
from .xdlms.set import (
    SetRequestNormal,
    SetRequestWithDataBlock,
    SetRequestWithFirstDataBlock,
    SetResponseDataBlock,
    SetResponseLastDataBlock,
    SetResponseNormal,
)

#: What a head-end proposes by default: LN referencing with GET/SET/ACTION, selective access,
#: blocks both ways, multiple references and notifications.
DEFAULT_CONFORMANCE = (
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


class ClientState(enum.Enum):
    IDLE = "idle"
    AWAITING_AARE = "awaiting-aare"
    AUTHENTICATING = "authenticating"
    ASSOCIATED = "associated"
    RELEASING = "releasing"


@dataclass(frozen=True)
class ClientSettings:
    """How the client associates: mechanism, secret, ciphering and what it proposes.

    ``password`` is the LLS secret; ``security`` turns on the ciphered application context and
    carries the client's system title and keys (HLS-GMAC needs it; HLS-ECDSA its signing keys).
    ``invocation_counter`` is the first counter this association sends: a meter refuses any counter
    not above the last it accepted, so a head-end continues from its own record or from the
    meter's invocation-counter object (0-0:43.1.x.255).
    """

    mechanism: Mechanism = Mechanism.NONE
    password: bytes | None = field(default=None, repr=False)
    security: SecurityContext | None = None
    conformance: Conformance = DEFAULT_CONFORMANCE
    max_receive_pdu_size: int = 0xFFFF
    max_response_size: int = 16 * 1024 * 1024
    challenge_length: int = 16
    invocation_counter: int = 0

    def __post_init__(self) -> None:
        if self.mechanism == Mechanism.LLS and not self.password:
            raise SecurityError("LLS needs a password")
        if self.mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_ECDSA) and self.security is None:
            raise SecurityError(f"{self.mechanism.name} needs a security context (keys)")
        if self.mechanism == Mechanism.HLS_ECDSA and (
            self.security is None
            or self.security.signing_key is None
            or self.security.peer_signing_key is None
        ):
            raise SecurityError(
                "HLS-ECDSA needs the client's signing key and the server's public key"
            )
        if not 12 <= self.max_receive_pdu_size <= 0xFFFF:
            raise ProtocolError("max receive PDU size must be 12..65535")


# ------------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class Associated:
    """The association is open (and, for HLS, both sides are authenticated)."""

    conformance: Conformance
    server_max_receive_pdu_size: int
    server_system_title: bytes | None


@dataclass(frozen=True)
class AssociationRejected:
    """The server refused the association, or mutual authentication failed."""

    reason: str


@dataclass(frozen=True)
class GetResult:
    invoke_id: int
    result: Data | DataAccessResult


@dataclass(frozen=True)
class GetListResult:
    invoke_id: int
    results: list[Data | DataAccessResult]


@dataclass(frozen=True)
class SetResult:
    invoke_id: int
    result: DataAccessResult


@dataclass(frozen=True)
class ActionDone:
    invoke_id: int
    result: ActionResult
    return_data: Data | DataAccessResult | None


@dataclass(frozen=True)
class RequestFailed:
    """The server answered with an exception-response or a confirmed-service-error."""

    invoke_id: int | None
    reason: str


@dataclass(frozen=True)
class NotificationReceived:
    """An unsolicited data-notification or event-notification (push, COL-9)."""

    notification: DataNotification | EventNotificationRequest
    system_title: bytes | None


@dataclass(frozen=True)
class Released:
    """The association is released (RLRE received)."""


ClientEvent = (
    Associated
    | AssociationRejected
    | GetResult
    | GetListResult
    | SetResult
    | ActionDone
    | RequestFailed
    | NotificationReceived
    | Released
)


@dataclass
class _Pending:
    """An outstanding request and whatever block state it needs."""

    kind: str
    assembler: BlockAssembler | None = None
    blocks: list[bytes] = field(default_factory=list)
    next_block: int = 0
    signed: bool = False


class ClientAssociation:
    """One association from the client's side. Not thread-safe; one per connection."""

    def __init__(self, settings: ClientSettings, *, challenge: bytes | None = None) -> None:
        self.settings = settings
        self.state = ClientState.IDLE
        self.protection = ApduProtection(
            settings.security, InvocationCounter(settings.invocation_counter)
        )
        self._challenge = challenge
        self._server_challenge = b""
        self._outbox: deque[bytes] = deque()
        self._events: deque[ClientEvent] = deque()
        self._pending: dict[int, _Pending] = {}
        self._next_invoke = 1
        self.conformance = Conformance(0)
        self.server_max_receive_pdu_size = 0xFFFF

    # ----------------------------------------------------------------------------- caller API

    def associate(self) -> None:
        """Queue the AARQ (with a ciphered initiate request when the context is ciphered)."""
        if self.state is not ClientState.IDLE:
            raise ProtocolError(f"cannot associate in state {self.state.value}")
        s = self.settings
        initiate = InitiateRequest(
            proposed_conformance=s.conformance, client_max_receive_pdu_size=s.max_receive_pdu_size
        ).encode()
        ciphered = s.security is not None
        if ciphered:
            initiate = self.protection.protect(initiate, CipheringKind.GLO)
        auth_value: bytes | None = None
        if s.mechanism == Mechanism.LLS:
            auth_value = s.password
        elif s.mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_ECDSA):
            if self._challenge is None:
                self._challenge = secrets.token_bytes(s.challenge_length)
            auth_value = self._challenge
        aarq = Aarq(
            application_context=(
                ApplicationContext.LN_CIPHERED if ciphered else ApplicationContext.LN
            ),
            calling_ap_title=s.security.system_title if s.security is not None else None,
            mechanism=s.mechanism if s.mechanism != Mechanism.NONE else None,
            calling_authentication_value=auth_value,
            user_information=initiate,
        )
        self._outbox.append(aarq.encode())
        self.state = ClientState.AWAITING_AARE

    def get(
        self,
        attribute: AttributeDescriptor,
        access: SelectiveAccess | None = None,
        *,
        high_priority: bool = False,
    ) -> int:
        """Queue a GET of one attribute; returns the invoke id its :class:`GetResult` will carry."""
        invoke = self._invoke(high_priority)
        self._send(GetRequestNormal(invoke, attribute, access), _Pending("get"))
        return invoke.invoke_id

    def get_with_list(self, items: list[tuple[AttributeDescriptor, SelectiveAccess | None]]) -> int:
        """Queue one GET of several attributes (needs the multiple-references conformance)."""
        invoke = self._invoke(False)
        self._send(GetRequestWithList(invoke, items), _Pending("get-list"))
        return invoke.invoke_id

    def set(
        self,
        attribute: AttributeDescriptor,
        value: Data,
        access: SelectiveAccess | None = None,
        *,
        signed: bool = False,
    ) -> int:
        """Queue a SET; values larger than the server's PDU go in blocks automatically."""
        invoke = self._invoke(False)
        request = SetRequestNormal(invoke, attribute, access, value)
        encoded = encode_apdu(request)
        limit = self._max_block()
        if len(encoded) <= self.server_max_receive_pdu_size - BLOCK_OVERHEAD:
            self._send(request, _Pending("set", signed=signed), signed=signed)
        else:
            blocks = split_blocks(axdr.encode(value), limit)
            pending = _Pending("set", blocks=blocks, next_block=1, signed=signed)
            first = SetRequestWithFirstDataBlock(
                invoke, attribute, access, len(blocks) == 1, 1, blocks[0]
            )
            self._send(first, pending, signed=signed)
        return invoke.invoke_id

    def action(
        self,
        method: MethodDescriptor,
        parameters: Data | None = None,
        *,
        signed: bool = False,
        high_priority: bool = False,
    ) -> int:
        """Queue an ACTION; ``signed`` wraps it in general-signing (CMD-6, suite 1 only)."""
        invoke = self._invoke(high_priority)
        request = ActionRequestNormal(invoke, method, parameters)
        encoded = encode_apdu(request)
        if len(encoded) <= self.server_max_receive_pdu_size - BLOCK_OVERHEAD or parameters is None:
            self._send(request, _Pending("action", signed=signed), signed=signed)
        else:
            blocks = split_blocks(axdr.encode(parameters), self._max_block())
            pending = _Pending("action", blocks=blocks, next_block=1, signed=signed)
            first = ActionRequestWithFirstPBlock(invoke, method, len(blocks) == 1, 1, blocks[0])
            self._send(first, pending, signed=signed)
        return invoke.invoke_id

    def release(self) -> None:
        """Queue an RLRQ; :class:`Released` follows the server's RLRE."""
        if (
            self.state is not ClientState.ASSOCIATED
            and self.state is not ClientState.AUTHENTICATING
        ):
            raise ProtocolError(f"cannot release in state {self.state.value}")
        self._outbox.append(Rlrq(reason=None, user_information=None).encode())
        self.state = ClientState.RELEASING

    def apdus_to_send(self) -> list[bytes]:
        """APDUs to hand to the link now, in order."""
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def next_event(self) -> ClientEvent | None:
        return self._events.popleft() if self._events else None

    @property
    def busy(self) -> bool:
        """True while any request still waits for its answer."""
        return bool(self._pending) or self.state in (
            ClientState.AWAITING_AARE,
            ClientState.AUTHENTICATING,
            ClientState.RELEASING,
        )

    # ---------------------------------------------------------------------------- receiving

    def receive_apdu(self, apdu: bytes) -> None:
        """Process one APDU from the server. Bad input raises a typed error and changes nothing."""
        if not apdu:
            raise DecodeError("empty APDU", 0)
        tag = apdu[0]
        if tag in (0x61, 0x63):
            self._receive_acse(decode_acse(apdu))
            return
        unprotected = self.protection.unprotect(apdu)
        plain = unprotected.apdu
        if plain[:1] == b"\xd8":
            exc = decode_exception_response(plain)
            self._fail_oldest(f"exception-response: {exc}")
            return
        if plain[:1] == b"\x0e":
            err = decode_confirmed_service_error(plain)
            self._fail_oldest(f"confirmed-service-error: {err}")
            return
        message = decode_apdu(plain)
        if isinstance(message, DataNotification | EventNotificationRequest):
            self._events.append(NotificationReceived(message, unprotected.system_title))
            return
        invoke_id = message.invoke.invoke_id
        pending = self._pending.get(invoke_id)
        if pending is None:
            raise ProtocolError(f"answer with invoke id {invoke_id} matches no request")
        if self.state is ClientState.AUTHENTICATING and pending.kind == "hls":
            self._finish_hls(invoke_id, message)
            return
        self._dispatch(invoke_id, pending, message)

    # ---------------------------------------------------------------------------- internals

    def _invoke(self, high_priority: bool) -> InvokeIdAndPriority:
        if self.state is not ClientState.ASSOCIATED:
            raise ProtocolError(f"no open association (state {self.state.value})")
        for _ in range(16):
            candidate = self._next_invoke
            self._next_invoke = (self._next_invoke + 1) % 16
            if candidate not in self._pending:
                return InvokeIdAndPriority(candidate, True, high_priority)
        raise ProtocolError("16 requests outstanding: no free invoke id")

    def _max_block(self) -> int:
        return max(16, self.server_max_receive_pdu_size - BLOCK_OVERHEAD)

    def _send(self, message: object, pending: _Pending, *, signed: bool = False) -> None:
        apdu = self.protection.protect(encode_apdu(message))  # type: ignore[arg-type]
        if signed:
            apdu = self._sign(apdu)
        self._pending[message.invoke.invoke_id] = pending  # type: ignore[attr-defined]
        self._outbox.append(apdu)

    def _sign(self, apdu: bytes) -> bytes:
        ctx = self.settings.security
        if ctx is None or ctx.signing_key is None:
            raise SecurityError("signing needs a security suite 1 context with a signing key")
        return sign_apdu(
            apdu,
            transaction_id=secrets.token_bytes(8),
            originator_system_title=ctx.system_title,
            recipient_system_title=self.protection.peer_system_title or b"",
            date_time=b"",
            other_information=b"",
            private_key=ctx.signing_key,
        )

    def _receive_acse(self, message: Aarq | Aare | Rlrq | Rlre) -> None:
        if isinstance(message, Rlre):
            if self.state is not ClientState.RELEASING:
                raise ProtocolError("RLRE without a release request")
            self._reset()
            self._events.append(Released())
            return
        if not isinstance(message, Aare):
            raise ProtocolError(f"unexpected {type(message).__name__} from a server")
        if self.state is not ClientState.AWAITING_AARE:
            raise ProtocolError("AARE without an association request")
        if message.result != AssociationResult.ACCEPTED:
            self._reset()
            self._events.append(
                AssociationRejected(f"AARE {message.result.name}: {message.diagnostic}")
            )
            return
        if message.responding_ap_title is not None:
            self.protection.peer_system_title = bytes(message.responding_ap_title)
        info = message.user_information or b""
        try:
            if info and self.protection.context is not None and info[0] != 0x08:
                info = self.protection.unprotect(info).apdu
            if info[:1] == b"\x0e":
                err = decode_confirmed_service_error(info)
                self._reset()
                self._events.append(AssociationRejected(f"initiate refused: {err}"))
                return
            response = decode_initiate_response(info)
        except (SecurityError, DecodeError) as exc:
            self._reset()
            self._events.append(AssociationRejected(f"bad initiate response: {exc}"))
            return
        self.conformance = response.negotiated_conformance
        self.server_max_receive_pdu_size = response.server_max_receive_pdu_size or 0xFFFF
        mechanism = self.settings.mechanism
        if mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_ECDSA):
            self._server_challenge = bytes(message.responding_authentication_value or b"")
            if not self._server_challenge:
                self._reset()
                self._events.append(AssociationRejected("server sent no HLS challenge"))
                return
            self._start_hls()
            return
        self.state = ClientState.ASSOCIATED
        self._events.append(self._associated_event())

    def _associated_event(self) -> Associated:
        return Associated(
            self.conformance, self.server_max_receive_pdu_size, self.protection.peer_system_title
        )

    def _start_hls(self) -> None:
        """HLS pass 3: prove the client knows the key by answering the server's challenge."""
        ctx = self.settings.security
        assert ctx is not None
        if self.settings.mechanism == Mechanism.HLS_GMAC:
            proof = gmac_response(
                SecurityControl(suite=ctx.suite, authenticated=True, encrypted=False),
                ctx.system_title,
                self.protection.counter.next(),
                ctx.encryption_key,
                ctx.authentication_key,
                self._server_challenge,
            )
        else:
            assert ctx.signing_key is not None and self.protection.peer_system_title is not None
            proof = ecdsa_sign_challenge(
                ctx.signing_key,
                ctx.system_title,
                self.protection.peer_system_title,
                self._server_challenge,
                self._challenge or b"",
            )
        self.state = ClientState.AUTHENTICATING
        invoke = InvokeIdAndPriority(self._next_invoke, True, False)
        self._next_invoke = (self._next_invoke + 1) % 16
        method = MethodDescriptor(
            ASSOCIATION_LN_CLASS, CURRENT_ASSOCIATION, REPLY_TO_HLS_AUTHENTICATION
        )
        request = ActionRequestNormal(invoke, method, OctetString(proof))
        self._send(request, _Pending("hls"))

    def _finish_hls(self, invoke_id: int, message: object) -> None:
        """HLS pass 4: check the server's proof over our challenge."""
        del self._pending[invoke_id]
        ctx = self.settings.security
        assert ctx is not None
        ok = False
        if isinstance(message, ActionResponseNormal) and message.result == ActionResult.SUCCESS:
            proof = message.return_data
            if isinstance(proof, bytes) and self.protection.peer_system_title is not None:
                try:
                    if self.settings.mechanism == Mechanism.HLS_GMAC:
                        verify_gmac_response(
                            proof,
                            self.protection.peer_system_title,
                            ctx.encryption_key,
                            ctx.authentication_key,
                            self._challenge or b"",
                        )
                    else:
                        assert ctx.peer_signing_key is not None
                        ecdsa_verify_challenge(
                            ctx.peer_signing_key,
                            proof,
                            self.protection.peer_system_title,
                            ctx.system_title,
                            self._challenge or b"",
                            self._server_challenge,
                        )
                    ok = True
                except SecurityError:
                    ok = False
        if not ok:
            self._reset()
            self._events.append(AssociationRejected("server failed HLS authentication"))
            return
        self.state = ClientState.ASSOCIATED
        self._events.append(self._associated_event())

    def _dispatch(self, invoke_id: int, pending: _Pending, message: object) -> None:
        if isinstance(message, GetResponseNormal):
            del self._pending[invoke_id]
            self._events.append(GetResult(invoke_id, message.result))
        elif isinstance(message, GetResponseWithList):
            del self._pending[invoke_id]
            self._events.append(GetListResult(invoke_id, list(message.results)))
        elif isinstance(message, GetResponseWithDataBlock):
            self._get_block(invoke_id, pending, message)
        elif isinstance(message, SetResponseNormal | SetResponseLastDataBlock):
            del self._pending[invoke_id]
            self._events.append(SetResult(invoke_id, message.result))
        elif isinstance(message, SetResponseDataBlock):
            self._next_block(invoke_id, pending, SetRequestWithDataBlock)
        elif isinstance(message, ActionResponseNormal):
            del self._pending[invoke_id]
            data = None if isinstance(message.return_data, ExplicitNull) else message.return_data
            self._events.append(ActionDone(invoke_id, message.result, data))
        elif isinstance(message, ActionResponseNextPBlock):
            self._next_block(invoke_id, pending, ActionRequestWithPBlock)
        elif isinstance(message, ActionResponseWithPBlock):
            self._action_return_block(invoke_id, pending, message)
        else:
            raise ProtocolError(f"unexpected {type(message).__name__} for a {pending.kind} request")

    def _get_block(
        self, invoke_id: int, pending: _Pending, message: GetResponseWithDataBlock
    ) -> None:
        if isinstance(message.raw_data, DataAccessResult):
            del self._pending[invoke_id]
            self._events.append(GetResult(invoke_id, message.raw_data))
            return
        if pending.assembler is None:
            pending.assembler = BlockAssembler(max_total=self.settings.max_response_size)
        pending.assembler.add(message.block_number, message.raw_data, message.last_block)
        if message.last_block:
            del self._pending[invoke_id]
            raw = pending.assembler.result()
            self._events.append(GetResult(invoke_id, axdr.decode(raw)))
            return
        invoke = InvokeIdAndPriority(invoke_id, True, False)
        next_request = GetRequestNext(invoke, message.block_number)
        self._outbox.append(self.protection.protect(encode_apdu(next_request)))

    def _next_block(
        self,
        invoke_id: int,
        pending: _Pending,
        request_type: type[SetRequestWithDataBlock] | type[ActionRequestWithPBlock],
    ) -> None:
        """Send the next block of a SET or ACTION the server asked to continue."""
        if pending.next_block >= len(pending.blocks):
            raise ProtocolError(f"server asked for a {pending.kind.upper()} block beyond the last")
        number = pending.next_block + 1
        block = pending.blocks[pending.next_block]
        pending.next_block += 1
        invoke = InvokeIdAndPriority(invoke_id, True, False)
        request = request_type(invoke, number == len(pending.blocks), number, block)
        self._send(request, pending, signed=pending.signed)

    def _action_return_block(
        self, invoke_id: int, pending: _Pending, message: ActionResponseWithPBlock
    ) -> None:
        if pending.assembler is None:
            pending.assembler = BlockAssembler(max_total=self.settings.max_response_size)
        pending.assembler.add(message.block_number, message.raw_data, message.last_block)
        if message.last_block:
            del self._pending[invoke_id]
            value = axdr.decode(pending.assembler.result())
            self._events.append(ActionDone(invoke_id, ActionResult.SUCCESS, value))
            return
        invoke = InvokeIdAndPriority(invoke_id, True, False)
        request = ActionRequestNextPBlock(invoke, message.block_number)
        self._outbox.append(self.protection.protect(encode_apdu(request)))

    def _fail_oldest(self, reason: str) -> None:
        """Exception responses carry no invoke id: they answer the oldest outstanding request."""
        if self.state is ClientState.AWAITING_AARE:
            self._reset()
            self._events.append(AssociationRejected(reason))
            return
        if self.state is ClientState.AUTHENTICATING:
            self._reset()
            self._events.append(AssociationRejected(reason))
            return
        invoke_id = next(iter(self._pending), None)
        if invoke_id is not None:
            del self._pending[invoke_id]
        self._events.append(RequestFailed(invoke_id, reason))

    def _reset(self) -> None:
        self.state = ClientState.IDLE
        self._pending.clear()
