"""The asyncio DLMS client: a thin face over :class:`metra.dlms.client.ClientAssociation`.

Used by ``metra read`` and the head-end. One :class:`DlmsClient` is one TCP connection and at most
one association at a time; every request waits for its own answer (the machine handles blocks and
HLS round trips itself).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from dataclasses import dataclass, replace
from typing import Literal

from metra.dlms.client import (
    ActionDone,
    Associated,
    AssociationRejected,
    ClientAssociation,
    ClientEvent,
    ClientSettings,
    GetListResult,
    GetResult,
    NotificationReceived,
    Released,
    RequestFailed,
    SetResult,
)
from metra.dlms.cosem.objects import invocation_counter_object
from metra.dlms.data import Data, DateTime, OctetString
from metra.dlms.errors import DlmsError, SecurityError
from metra.dlms.hdlc import HdlcAddress, HdlcSettings
from metra.dlms.hdlc_link import HdlcLink
from metra.dlms.link import Link, Role
from metra.dlms.wrapper_link import WrapperLink
from metra.dlms.xdlms.common import (
    ActionResult,
    AttributeDescriptor,
    DataAccessResult,
    MethodDescriptor,
    SelectiveAccess,
)

from .errors import RequestRefused, TransportError
from .link_stream import LinkStream

Transport = Literal["wrapper", "hdlc"]

#: Clock object and its time attribute: the usual restricting object of a profile range read.
_CLOCK_CLASS = 8
_CLOCK_LN = bytes((0, 0, 1, 0, 0, 255))


@dataclass(frozen=True)
class Endpoint:
    """Where a meter is and how to address it.

    ``client_address`` is the client SAP (16 Public, 1 management ...). ``server_address`` is the
    logical device (1 = management logical device); ``physical_address`` and ``address_size`` are
    for HDLC only.
    """

    host: str
    port: int
    transport: Transport = "wrapper"
    client_address: int = 16
    server_address: int = 1
    physical_address: int = 0
    address_size: int = 1
    tls: ssl.SSLContext | None = None
    timeout: float = 10.0

    def make_link(self) -> Link:
        if self.transport == "wrapper":
            return WrapperLink(Role.CLIENT, self.client_address, self.server_address)
        server = HdlcAddress(
            self.server_address,
            self.physical_address,
            self.address_size if self.address_size in (1, 2, 4) else 1,
        )
        return HdlcLink(Role.CLIENT, HdlcAddress(self.client_address), server, HdlcSettings())


def range_access(start: dt.datetime, end: dt.datetime) -> SelectiveAccess:
    """Selective access by range on the clock column (access selector 1), the usual way to read a
    profile between two instants."""
    from metra.dlms.xdlms.common import CaptureObject, RangeDescriptor

    descriptor = RangeDescriptor(
        restricting_object=CaptureObject(_CLOCK_CLASS, _CLOCK_LN, 2, 0),
        from_value=OctetString(_dt_octets(start)),
        to_value=OctetString(_dt_octets(end)),
        selected_values=[],
    )
    return descriptor.to_access()


def _dt_octets(value: dt.datetime) -> bytes:
    from metra.dlms.axdr import datetime_to_bytes

    return datetime_to_bytes(DateTime.from_datetime(value))


def refuse_self_connect(writer: asyncio.StreamWriter, where: str) -> None:
    """Close and refuse a connection whose two ends are the same socket address.

    On loopback, connecting to a closed port inside the ephemeral range can succeed as a TCP
    self-connect (RFC 793 simultaneous open): our own requests would come back as the "meter's"
    answers and look like a failed authentication, a security event. It is no connection at all.
    """
    if writer.get_extra_info("sockname") == writer.get_extra_info("peername"):
        writer.close()
        raise TransportError(f"cannot connect to {where}: connected to itself")


class DlmsClient:
    """An async DLMS client over one connection.

    Use as ``async with DlmsClient(endpoint, settings) as meter: value = await meter.get(...)``:
    entering connects, brings the link up and associates; leaving releases (always attempted) and
    closes.
    """

    def __init__(self, endpoint: Endpoint, settings: ClientSettings) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.association = ClientAssociation(settings)
        self.stream: LinkStream | None = None
        self.notifications: list[NotificationReceived] = []
        self.associated: Associated | None = None

    async def __aenter__(self) -> DlmsClient:
        await self.connect()
        try:
            await self.associate()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.associated is not None:
                await self.release()
        except (TimeoutError, TransportError, SecurityError, RequestRefused):
            pass
        finally:
            await self.close()

    async def connect(self) -> None:
        ep = self.endpoint
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ep.host, ep.port, ssl=ep.tls), ep.timeout
            )
        except (TimeoutError, OSError) as exc:
            raise TransportError(f"cannot connect to {ep.host}:{ep.port}: {exc}") from exc
        refuse_self_connect(writer, f"{ep.host}:{ep.port}")
        self.stream = LinkStream(reader, writer, ep.make_link(), timeout=ep.timeout)
        await self.stream.open()

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()
            self.stream = None

    async def associate(self) -> Associated:
        self.association.associate()
        event = await self._exchange(lambda e: isinstance(e, Associated | AssociationRejected))
        if isinstance(event, AssociationRejected):
            raise SecurityError(f"association refused: {event.reason}")
        assert isinstance(event, Associated)
        self.associated = event
        return event

    async def release(self) -> None:
        self.association.release()
        self.associated = None
        await self._exchange(lambda e: isinstance(e, Released))

    async def get(
        self, class_id: int, obis: bytes, attribute: int, access: SelectiveAccess | None = None
    ) -> Data:
        """Read one attribute; a refusal raises :class:`RequestRefused`."""
        invoke = self.association.get(AttributeDescriptor(class_id, obis, attribute), access)
        event = await self._answer(invoke)
        if isinstance(event, GetResult):
            if isinstance(event.result, DataAccessResult):
                raise RequestRefused("get", event.result)
            return event.result
        raise RequestRefused("get", event)

    async def get_many(
        self, items: list[tuple[int, bytes, int, SelectiveAccess | None]]
    ) -> list[Data | DataAccessResult]:
        """Read several attributes in one request (get-request-with-list)."""
        descriptors = [(AttributeDescriptor(c, o, a), acc) for c, o, a, acc in items]
        invoke = self.association.get_with_list(descriptors)
        event = await self._answer(invoke)
        if isinstance(event, GetListResult):
            return event.results
        raise RequestRefused("get-with-list", event)

    async def get_profile(
        self, obis: bytes, start: dt.datetime, end: dt.datetime, class_id: int = 7
    ) -> Data:
        """Profile generic buffer (attribute 2) between two instants, by range."""
        return await self.get(class_id, obis, 2, range_access(start, end))

    async def set(
        self, class_id: int, obis: bytes, attribute: int, value: Data, *, signed: bool = False
    ) -> None:
        invoke = self.association.set(
            AttributeDescriptor(class_id, obis, attribute), value, signed=signed
        )
        event = await self._answer(invoke)
        if not isinstance(event, SetResult) or event.result != DataAccessResult.SUCCESS:
            raise RequestRefused("set", getattr(event, "result", event))

    async def action(
        self,
        class_id: int,
        obis: bytes,
        method: int,
        parameters: Data | None = None,
        *,
        signed: bool = False,
    ) -> Data | None:
        invoke = self.association.action(
            MethodDescriptor(class_id, obis, method), parameters, signed=signed
        )
        event = await self._answer(invoke)
        if not isinstance(event, ActionDone) or event.result != ActionResult.SUCCESS:
            raise RequestRefused("action", getattr(event, "result", event))
        if isinstance(event.return_data, DataAccessResult):
            raise RequestRefused("action", event.return_data)
        return event.return_data

    # ---------------------------------------------------------------------------- internals

    async def _answer(self, invoke_id: int) -> ClientEvent:
        def matches(event: ClientEvent) -> bool:
            if isinstance(event, RequestFailed):
                return event.invoke_id in (invoke_id, None)
            return getattr(event, "invoke_id", None) == invoke_id

        event = await self._exchange(matches)
        if isinstance(event, RequestFailed):
            raise RequestRefused("request", event.reason)
        return event

    async def _exchange(self, wanted: object) -> ClientEvent:
        """Send what the machine queued, then feed answers until the wanted event appears."""
        assert callable(wanted)
        stream = self.stream
        if stream is None:
            raise TransportError("not connected")
        while True:
            for apdu in self.association.apdus_to_send():
                await stream.send(apdu)
            while (event := self.association.next_event()) is not None:
                if isinstance(event, NotificationReceived):
                    self.notifications.append(event)
                    continue
                if wanted(event):
                    return event
            apdu = await stream.receive()
            self.association.receive_apdu(apdu)


PUBLIC_CLIENT_SAP = 16


class CounterNotPublished(DlmsError):
    """The meter's invocation-counter object holds no counter."""


async def published_invocation_counter(
    endpoint: Endpoint, client_sap: int, client_class: type[DlmsClient] = DlmsClient
) -> int:
    """The invocation counter a meter expects next from ``client_sap``.

    A meter refuses any frame counter not above the last one it accepted (replay protection), so
    a client without its own record of the last session (first contact, a restart, a one-off
    ``metra read``) must start from what the meter publishes in 0-0:43.1.<sap>.255. That object
    is readable by the Public client, which needs no keys. ``client_class`` lets a caller that
    instruments its sessions (the collector's benchmark) use its own client here too.
    """
    public = replace(endpoint, client_address=PUBLIC_CLIENT_SAP)
    async with client_class(public, ClientSettings()) as meter:
        value = await meter.get(1, invocation_counter_object(client_sap).to_bytes(), 2)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CounterNotPublished(f"invocation counter object holds {type(value).__name__}")
    return int(value)
