"""The HDLC link state machine of IEC 62056-46 (normal response mode), sans-IO, for both roles.

The client is the primary station: it opens the link with SNRM, sends commands with the poll bit and
may only expect an answer when it has polled. The server is the secondary: it answers every poll,
and may send only when polled. Both ends number I-frames modulo 8 (N(S)/N(R)), split an APDU longer
than the negotiated information field into segments (format S bit) and send up to the negotiated
window of frames before handing the turn over with P/F.

Recovery is go-back-N: a receiver accepts only the next expected N(S), answers a poll with its
N(R), and the sender repeats every frame that N(R) does not acknowledge. The machine never reads a
clock; the transport calls :meth:`HdlcLink.handle_timeout` when an answer is overdue, and after
``max_retries`` unanswered repeats the client gives up with :class:`LinkDisconnected`.
"""

from __future__ import annotations

import enum
from collections import deque

from .errors import DecodeError, ProtocolError
from .hdlc import (
    LLC_REQUEST,
    LLC_RESPONSE,
    Control,
    FrameType,
    HdlcAddress,
    HdlcFrame,
    HdlcFrameDecoder,
    HdlcSettings,
    decode_parameters,
    encode_parameters,
)
from .link import (
    ApduReceived,
    FrameRejected,
    LinkConnected,
    LinkDisconnected,
    LinkEvent,
    Role,
)

#: Default bound on a reassembled APDU (LLC header included).
DEFAULT_MAX_APDU = 0x10000

# FRMR reason bits (ISO/IEC 13239, frame reject information field, third byte).
_FRMR_INVALID_CONTROL = 0x01
_FRMR_INFO_NOT_PERMITTED = 0x02
_FRMR_INFO_TOO_LONG = 0x04
_FRMR_INVALID_NR = 0x08


class _State(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"
    FRAME_REJECT = "frame reject"


class HdlcLink:
    """One end of an HDLC link; implements :class:`metra.dlms.link.Link`.

    ``client_address`` may be ``None`` for a server, which then serves whichever client opens the
    link with SNRM. ``settings`` are this side's own limits; the link runs with the minimum of both
    sides' values, available as :attr:`params` once connected.
    """

    def __init__(
        self,
        role: Role,
        client_address: HdlcAddress | None,
        server_address: HdlcAddress,
        settings: HdlcSettings | None = None,
        *,
        max_apdu_size: int = DEFAULT_MAX_APDU,
        max_retries: int = 3,
    ) -> None:
        if role is Role.CLIENT and client_address is None:
            raise ProtocolError("an HDLC client needs its own address")
        self._role = role
        self._client = client_address
        self._expected_client = client_address if role is Role.SERVER else None
        self._server = server_address
        self._settings = settings if settings is not None else HdlcSettings()
        self._max_apdu = max_apdu_size
        self._max_retries = max_retries
        self._decoder = HdlcFrameDecoder()
        self._events: deque[LinkEvent] = deque()
        self._out = bytearray()
        self._state = _State.DISCONNECTED
        self._params = HdlcSettings()
        self._frmr_info = b""
        self._reset_sequence()

    def _reset_sequence(self) -> None:
        self._vs = 0
        self._vr = 0
        self._unacked: list[tuple[int, bytes, bool]] = []
        self._tx_queue: deque[tuple[bytes, bool]] = deque()
        self._rx = bytearray()
        self._rx_overflow = False
        self._token = self._role is Role.CLIENT
        self._owes_answer = False
        self._retries = 0

    # ------------------------------------------------------------------------------ public face

    @property
    def params(self) -> HdlcSettings:
        """The negotiated parameters (the defaults before the link is up)."""
        return self._params

    @property
    def is_connected(self) -> bool:
        """Whether I-frames may be exchanged now."""
        return self._state is _State.CONNECTED

    @property
    def client_address(self) -> int | None:
        """The client's logical address (client SAP): a client's own, or the one a server
        learned from SNRM."""
        return self._client.logical if self._client is not None else None

    def connect(self) -> None:
        """Client: queue SNRM, with the negotiation field unless every value is the default.
        Server: nothing to do, it waits for the client's SNRM."""
        if self._role is Role.SERVER:
            return
        if self._state is not _State.DISCONNECTED:
            raise ProtocolError(f"connect() while {self._state.value}")
        self._reset_sequence()
        self._state = _State.CONNECTING
        self._send_snrm()

    def send_apdu(self, apdu: bytes) -> None:
        """Queue an APDU behind its LLC header, in segments of the negotiated length."""
        if self._state is not _State.CONNECTED:
            raise ProtocolError(f"send_apdu() while the HDLC link is {self._state.value}")
        payload = (LLC_REQUEST if self._role is Role.CLIENT else LLC_RESPONSE) + bytes(apdu)
        size = self._params.max_info_tx
        for start in range(0, len(payload), size):
            self._tx_queue.append((payload[start : start + size], start + size < len(payload)))
        if self._token:
            self._transmit()

    def receive_data(self, data: bytes) -> None:
        """Feed received bytes; frames not addressed to this end are ignored."""
        for item in self._decoder.feed(data):
            if isinstance(item, DecodeError):
                self._events.append(FrameRejected(str(item)))
            elif self._role is Role.SERVER:
                self._server_frame(item)
            else:
                self._client_frame(item)

    def next_event(self) -> LinkEvent | None:
        """The next pending event, or ``None``."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Frames to write to the transport now."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def disconnect(self) -> None:
        """Client: queue DISC. Server: drop the link locally (it cannot speak unpolled; the
        client's next frame will get DM)."""
        if self._state is _State.DISCONNECTED:
            return
        if self._role is Role.CLIENT:
            self._reset_sequence()
            self._state = _State.DISCONNECTING
            self._send(Control(FrameType.DISC))
        else:
            self._go_down("closed by the server")

    def handle_timeout(self) -> None:
        """Client: repeat the last command (SNRM, DISC, unacknowledged I-frames, or an RR poll);
        after ``max_retries`` repeats give up. A server only answers, so it has nothing to do."""
        if self._role is Role.SERVER or self._state in (_State.DISCONNECTED, _State.FRAME_REJECT):
            return
        self._retries += 1
        if self._retries > self._max_retries:
            self._go_down(f"no answer from the server after {self._max_retries} retries")
            return
        if self._state is _State.CONNECTING:
            self._send_snrm()
        elif self._state is _State.DISCONNECTING:
            self._send(Control(FrameType.DISC))
        else:
            self._token = True
            if not self._transmit():
                self._poll()

    # ---------------------------------------------------------------------------- frame output

    def _send(
        self,
        control: Control,
        info: bytes = b"",
        segmented: bool = False,
        peer: HdlcAddress | None = None,
    ) -> None:
        """Queue one frame; a server addresses ``peer`` or else the client it is linked with."""
        client = peer if peer is not None else self._client
        assert client is not None
        if self._role is Role.CLIENT:
            destination, source = self._server, client
        else:
            destination, source = client, self._server
        self._out += HdlcFrame(destination, source, control, info, segmented).encode()

    def _send_snrm(self) -> None:
        info = b"" if self._settings == HdlcSettings() else encode_parameters(self._settings)
        self._send(Control(FrameType.SNRM), info)

    def _poll(self) -> None:
        """RR with P/F: acknowledge what arrived and hand the turn to the other side."""
        self._send(Control(FrameType.RR, True, nr=self._vr))
        self._token = False

    def _transmit(self) -> bool:
        """Holding the turn: send the unacknowledged frames again (go-back-N), then new ones up
        to the window; the last one carries P/F. Returns whether anything was sent."""
        while len(self._unacked) < self._params.window_tx and self._tx_queue:
            info, segmented = self._tx_queue.popleft()
            self._unacked.append((self._vs, info, segmented))
            self._vs = (self._vs + 1) % 8
        if not self._unacked:
            return False
        last = len(self._unacked) - 1
        for index, (ns, info, segmented) in enumerate(self._unacked):
            self._send(Control(FrameType.I, index == last, ns, self._vr), info, segmented)
        self._token = False
        self._owes_answer = False
        return True

    def _go_down(self, reason: str) -> None:
        self._state = _State.DISCONNECTED
        self._reset_sequence()
        self._events.append(LinkDisconnected(reason))

    # ---------------------------------------------------------------------------- frame input

    def _acknowledge(self, nr: int) -> bool:
        """Drop the frames that ``nr`` acknowledges; ``False`` if ``nr`` is outside the window."""
        oldest = self._unacked[0][0] if self._unacked else self._vs
        count = (nr - oldest) % 8
        if count > len(self._unacked):
            return False
        del self._unacked[:count]
        return True

    def _accept_information(self, frame: HdlcFrame) -> bool:
        """Take an I-frame in sequence into reassembly; ``True`` when it completed an APDU."""
        ns = frame.control.ns
        if ns != self._vr:
            kind = "duplicate" if ns == (self._vr - 1) % 8 else "out-of-sequence"
            self._events.append(FrameRejected(f"{kind} I-frame N(S)={ns}, expected {self._vr}"))
            return False
        self._vr = (self._vr + 1) % 8
        if not self._rx_overflow:
            self._rx += frame.info
            if len(self._rx) > self._max_apdu:
                self._events.append(FrameRejected(f"APDU exceeds {self._max_apdu} bytes"))
                self._rx_overflow = True
                self._rx.clear()
        if frame.segmented:
            return False
        data, overflow = bytes(self._rx), self._rx_overflow
        self._rx.clear()
        self._rx_overflow = False
        return not overflow and self._deliver(data)

    def _deliver(self, data: bytes) -> bool:
        llc = LLC_REQUEST if self._role is Role.SERVER else LLC_RESPONSE
        if not data.startswith(llc):
            self._events.append(FrameRejected(f"information field lacks LLC header {llc.hex()}"))
            return False
        self._events.append(ApduReceived(data[len(llc) :]))
        return True

    def _client_frame(self, frame: HdlcFrame) -> None:
        assert self._client is not None
        if not (
            frame.destination.same_device(self._client) and frame.source.same_device(self._server)
        ):
            return
        control, kind = frame.control, frame.control.kind
        if kind is FrameType.UA:
            self._client_ua(frame)
        elif kind is FrameType.DM:
            if self._state is not _State.DISCONNECTED:
                refused = self._state is _State.CONNECTING
                self._go_down("server refused the link (DM)" if refused else "disconnected (DM)")
        elif kind is FrameType.FRMR:
            if self._state is not _State.DISCONNECTED:
                self._events.append(FrameRejected(f"server sent FRMR {frame.info.hex()}"))
                self._go_down("frame reject from the server")
        elif self._state is not _State.CONNECTED:
            self._events.append(FrameRejected(f"{kind.name} frame while {self._state.value}"))
        elif kind in (FrameType.SNRM, FrameType.DISC):
            self._events.append(FrameRejected(f"{kind.name} command from the server"))
        elif kind is FrameType.UI:
            self._deliver(frame.info)
        elif not self._acknowledge(control.nr):
            self._events.append(FrameRejected(f"invalid N(R)={control.nr} from the server"))
        else:
            self._retries = 0
            completed = kind is FrameType.I and self._accept_information(frame)
            if control.pf:
                self._token = True
                if kind is FrameType.RNR:
                    return
                if not self._transmit() and kind is FrameType.I and not completed:
                    self._poll()  # ask for the next segment, or for a repeat from our N(R)

    def _client_ua(self, frame: HdlcFrame) -> None:
        if self._state is _State.CONNECTING:
            try:
                offered = decode_parameters(frame.info)
            except DecodeError as exc:
                self._events.append(FrameRejected(f"UA parameters: {exc}"))
                self._go_down("server offered unusable link parameters")
                return
            own = self._settings
            self._params = HdlcSettings(
                min(own.max_info_tx, offered.max_info_rx),
                min(own.max_info_rx, offered.max_info_tx),
                min(own.window_tx, offered.window_rx),
                min(own.window_rx, offered.window_tx),
            )
            self._reset_sequence()
            self._state = _State.CONNECTED
            self._events.append(LinkConnected(self._params))
        elif self._state is _State.DISCONNECTING:
            self._go_down("disconnected")
        else:
            self._events.append(FrameRejected(f"unexpected UA while {self._state.value}"))

    def _server_frame(self, frame: HdlcFrame) -> None:
        if not frame.destination.same_device(self._server):
            return
        control, kind = frame.control, frame.control.kind
        bound = self._expected_client if self._state is _State.DISCONNECTED else self._client
        if bound is not None and not frame.source.same_device(bound):
            self._events.append(FrameRejected(f"frame from another client {frame.source}"))
            return
        if kind is FrameType.SNRM:
            self._server_snrm(frame)
        elif kind is FrameType.DISC:
            if self._state is _State.DISCONNECTED:
                self._send(Control(FrameType.DM), peer=frame.source)
            else:
                self._send(Control(FrameType.UA))
                self._go_down("disconnected by the client")
        elif self._state is _State.DISCONNECTED:
            if control.pf:
                self._send(Control(FrameType.DM), peer=frame.source)
        elif self._state is _State.FRAME_REJECT:
            if control.pf:
                self._send(Control(FrameType.FRMR), self._frmr_info)
        elif kind in (FrameType.UA, FrameType.DM, FrameType.FRMR):
            self._frame_reject(frame, _FRMR_INVALID_CONTROL, "response frame sent to the server")
        elif kind is FrameType.UI:
            self._deliver(frame.info)
        elif kind is not FrameType.I and frame.info:
            self._frame_reject(frame, _FRMR_INFO_NOT_PERMITTED, f"{kind.name} with information")
        elif len(frame.info) > self._params.max_info_rx:
            self._frame_reject(frame, _FRMR_INFO_TOO_LONG, "information field too long")
        elif not self._acknowledge(control.nr):
            self._frame_reject(frame, _FRMR_INVALID_NR, f"invalid N(R)={control.nr}")
        else:
            completed = kind is FrameType.I and self._accept_information(frame)
            if control.pf:
                self._token = True
                if completed:
                    self._owes_answer = True  # the answer is the application's response APDU
                    return
                if self._owes_answer and kind is FrameType.I:
                    return  # a repeated request while its answer is still being prepared
                if kind is FrameType.RNR or not self._transmit():
                    self._poll()

    def _server_snrm(self, frame: HdlcFrame) -> None:
        try:
            offered = decode_parameters(frame.info)
        except DecodeError as exc:
            self._events.append(FrameRejected(f"SNRM parameters: {exc}"))
            self._send(Control(FrameType.DM), peer=frame.source)
            return
        own = self._settings
        self._params = HdlcSettings(
            min(own.max_info_tx, offered.max_info_rx),
            min(own.max_info_rx, offered.max_info_tx),
            min(own.window_tx, offered.window_rx),
            min(own.window_rx, offered.window_tx),
        )
        self._client = frame.source
        self._reset_sequence()
        self._state = _State.CONNECTED
        self._send(Control(FrameType.UA), encode_parameters(self._params))
        self._events.append(LinkConnected(self._params))

    def _frame_reject(self, frame: HdlcFrame, reason_bit: int, reason: str) -> None:
        """Enter the frame-reject condition: FRMR now and to every poll until SNRM or DISC."""
        self._frmr_info = bytes((frame.control.encode(), self._vr << 5 | self._vs << 1, reason_bit))
        self._state = _State.FRAME_REJECT
        self._send(Control(FrameType.FRMR), self._frmr_info)
        self._events.append(FrameRejected(reason))
