"""The push receiver (COL-9): alarms and data a meter sends on its own, as they happen.

An asyncio TCP server takes wrapper-framed (IEC 62056-47) DataNotification and
EventNotification APDUs. Every push must be ciphered with authentication in a
general-glo-ciphering envelope: the system title inside names the meter, the key store gives
its keys (those of the client SAPs in `push_saps`, WAN interface), and the GCM tag proves the
meter sent it. The invocation counter must grow per meter, so a recorded push cannot be played
again. A verified push is stored as a meter event (log = the push setup or the notified
object, normalised code, raw value) and handed to the callback.

Anything else raises a security event (SEC-3) and is dropped: a plain push, an unknown system
title, a push that does not verify, a replay, and a system title pushing from two addresses at
once. A connection that breaks the framing is closed; one bad peer never stops the receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine

from metra.dlms.cosem import objects
from metra.dlms.counters import ReplayGuard
from metra.dlms.data import Data
from metra.dlms.errors import DecodeError, DlmsError, SecurityError
from metra.dlms.obis import Obis
from metra.dlms.security import GENERAL_GLO_CIPHERING, decipher_apdu
from metra.dlms.wrapper import WrapperDecoder
from metra.dlms.xdlms.codec import decode_apdu
from metra.dlms.xdlms.notification import DataNotification, EventNotificationRequest
from metra.store.events import MeterEvent, add_meter_events
from metra.store.masterdata import Entity, find

from . import security_events
from .decode import to_datetime
from .errors import KeyStoreError
from .keystore import KeyStore
from .security_events import TitleTracker

READ_SIZE = 65536
#: Largest push APDU accepted (a push carries an alarm or a few registers, not a profile).
MAX_PUSH_BYTES = 4096


@dataclass(frozen=True)
class PushMessage:
    """A verified push, as handed to the callback."""

    meter_id: UUID
    system_title: bytes
    kind: str  # "data-notification" or "event-notification"
    log: str  # the push setup, or the object whose attribute the event notifies
    at: datetime
    code: str
    raw_code: int
    body: Data


def _json(value: Data) -> Any:
    """COSEM data as JSON-safe values for the event's details."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _alarm_code(body: Data) -> int:
    """The alarm register in an IDIS alarm push (device id, alarm register), else 0."""
    if isinstance(body, list) and body and isinstance(body[-1], int):
        return int(body[-1])
    if isinstance(body, int) and not isinstance(body, bool):
        return int(body)
    return 0


class PushReceiver:
    """Receives, verifies, stores and raises pushes; `start` returns the listening server."""

    def __init__(
        self,
        engine: Engine,
        keystore: KeyStore,
        *,
        on_push: Callable[[PushMessage], None] | None = None,
        push_saps: tuple[int, ...] = (1,),
        tracker: TitleTracker | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.keystore = keystore
        self.on_push = on_push
        self.push_saps = push_saps
        self.tracker = tracker or TitleTracker()
        self.now = now
        self.replay = ReplayGuard()
        self._db = ThreadPoolExecutor(1, thread_name_prefix="push-db")

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen for meters' pushes."""
        return await asyncio.start_server(self._connection, host, port)

    def close(self) -> None:
        """Stop the database worker (after the server is closed)."""
        self._db.shutdown(wait=True)

    async def _db_run(self, work: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            with self.engine.begin() as conn:
                return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._db, run)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else "unknown"
        decoder = WrapperDecoder(max_payload=MAX_PUSH_BYTES)
        titles: set[bytes] = set()
        try:
            while data := await reader.read(READ_SIZE):
                for frame in decoder.feed(data):
                    title = await self._handle(frame.payload, address, titles)
                    if title is not None:
                        titles.add(title)
        except (DecodeError, OSError):
            pass
        finally:
            for title in titles:
                self.tracker.release(title, address)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _refuse(self, address: str, reason: str, title: bytes | None = None) -> None:
        await self._db_run(
            lambda c: security_events.authentication_failed(
                c, at=self.now(), address=address, reason=reason, system_title=title, what="push"
            )
        )

    def _lookup(self, conn: Connection, title: bytes) -> tuple[UUID, list[tuple[bytes, bytes]]]:
        found = find(conn, Entity.METER, self.now().date(), system_title=title)
        if len(found) != 1:
            raise KeyStoreError("unknown system title")
        keys = []
        for sap in self.push_saps:
            with contextlib.suppress(KeyStoreError):
                pair = self.keystore.association(conn, found[0], "wan", sap)
                keys.append((pair.encryption_key, pair.authentication_key))
        if not keys:
            raise KeyStoreError("no push keys")
        return found[0], keys

    async def _handle(self, apdu: bytes, address: str, titles: set[bytes]) -> bytes | None:
        """Verify and store one push; returns the sender's title once it is proven."""
        if not apdu or apdu[0] != GENERAL_GLO_CIPHERING or len(apdu) < 10:
            await self._refuse(address, "push not in general-glo-ciphering (plain or unknown)")
            return None
        title = bytes(apdu[2:10]) if apdu[1] == 8 else b""
        if len(title) != 8:
            await self._refuse(address, "malformed general-glo-ciphering header")
            return None
        try:
            meter_id, keys = await self._db_run(lambda c: self._lookup(c, title))
        except KeyStoreError as exc:
            await self._refuse(address, str(exc), title)
            return None
        opened = None
        for ek, ak in keys:
            try:
                opened = decipher_apdu(apdu, ek=ek, ak=ak, system_title=title)
                break
            except (SecurityError, DecodeError):
                continue
        if opened is None or not opened.sc.authenticated:
            await self._refuse(address, "push failed authentication", title)
            return None
        try:
            self.replay.check(title, opened.invocation_counter)
        except SecurityError:
            await self._refuse(address, "replayed push (old invocation counter)", title)
            return None
        try:
            message = decode_apdu(opened.plaintext)
        except DlmsError:
            await self._refuse(address, "push content does not decode", title)
            return None
        if not isinstance(message, DataNotification | EventNotificationRequest):
            await self._refuse(address, "ciphered APDU is not a notification", title)
            return None
        self.replay.commit(title, opened.invocation_counter)
        if title not in titles:
            clash = self.tracker.claim(title, address)
            if clash:
                await self._db_run(
                    lambda c: security_events.title_seen_twice(
                        c, at=self.now(), system_title=title, addresses=clash
                    )
                )
        push = self._message(meter_id, title, message)
        await self._db_run(lambda c: self._store(c, push))
        if self.on_push is not None:
            self.on_push(push)
        return title

    def _message(
        self, meter_id: UUID, title: bytes, message: DataNotification | EventNotificationRequest
    ) -> PushMessage:
        stamp = message.date_time if isinstance(message, DataNotification) else message.time
        try:
            at = to_datetime(stamp) if stamp is not None else self.now()
        except DecodeError:
            at = self.now()
        if isinstance(message, DataNotification):
            raw = _alarm_code(message.body)
            code = "push.alarm" if raw else "push.data"
            log = str(objects.PUSH_SETUP)
            return PushMessage(
                meter_id, title, "data-notification", log, at, code, raw, message.body
            )
        value = message.value
        raw = int(value) if isinstance(value, int) and not isinstance(value, bool) else 0
        log = str(Obis.from_bytes(bytes(message.attribute.instance_id)))
        return PushMessage(meter_id, title, "event-notification", log, at, "push.event", raw, value)

    def _store(self, conn: Connection, push: PushMessage) -> None:
        add_meter_events(
            conn,
            [
                MeterEvent(
                    meter_id=push.meter_id,
                    log_obis=push.log,
                    occurred_at=push.at,
                    raw_code=push.raw_code,
                    code=push.code,
                    registered_at=self.now(),
                    details={"kind": push.kind, "body": _json(push.body)},
                )
            ],
        )
