"""A fleet of virtual meters served from one asyncio process, each at its own TCP port.

The fleet is what a head-end sees instead of a drawer of hardware: N meters made
deterministically from a seed (serials, system titles, customer types, phases, faults), each with
fresh random keys per interface and client (SEC-7: never derived), each listening on its own port
of the loopback address, over the wrapper or HDLC, optionally inside TLS 1.3 (the communication
module's option), behind an IP whitelist (MTR-2). Transport faults (offline windows, a session cut
mid-transfer, slow answers, corrupted frames) are applied here so that collection and backfill
can be exercised (COL-8).

Scale is the point: 10,000 meters must fit in one process. A waiting meter costs one listening
socket and a small slot; its object model and its connection state are made on the first
connection, and the file-descriptor limit is raised to the hard limit at start.

The fleet serves the sans-IO meters through :func:`metra.net.server.serve_link`, the same session
loop every DLMS server in metra runs; :mod:`metra.meter.fleet_serve` only says how a stateful
meter opens an association. So the fleet (not the meter model) imports :mod:`metra.net`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import random
import resource
import socket
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from cryptography.hazmat.primitives.asymmetric import ec

from metra.dlms.server import AssociationConfig
from metra.profiles import Profile, load_profile

from .clock import FleetClock
from .faults import FaultRates, MeterFaults
from .fleet_faults import FaultyWriter, needs_faulty_writer
from .fleet_ports import PortPicker, ephemeral_range, listening_socket
from .fleet_push import PushSender
from .fleet_serve import SERVER_ADDRESS, ServableMeter, Transport, serve_session
from .identity import CUSTOMER_TYPES, MeterIdentity, MeterSecrets
from .inventory import Inventory, InventoryAssociation, InventoryMeter, write_inventory
from .tls import FleetTls, make_fleet_tls

__all__ = [
    "Fleet",
    "FleetConfig",
    "FleetError",
    "FleetMeter",
    "MeterFactory",
    "Security",
    "ServableMeter",
    "raise_fd_limit",
]

Security = Literal["none", "hls-gmac", "suite1"]

#: Share of each customer type in a generated fleet (household dominates, as in a real grid).
CUSTOMER_WEIGHTS: Mapping[str, float] = {
    "household": 0.6,
    "household-pv": 0.15,
    "small-business": 0.15,
    "ev": 0.1,
}
#: File descriptors kept free for client connections, inventory and log files.
FD_HEADROOM = 256
#: How far back and ahead of the fleet clock each meter's faults are drawn.
FAULT_HISTORY = dt.timedelta(days=400)
FAULT_FUTURE = dt.timedelta(days=60)
#: Listen backlog per meter (a head-end opens few connections to one meter at a time).
_BACKLOG = 64


class FleetError(RuntimeError):
    """The fleet cannot start as configured (too many meters for the descriptor limit, ...)."""


@dataclass(frozen=True)
class MeterRecipe:
    """Everything needed to make one meter: given to the :data:`MeterFactory`."""

    identity: MeterIdentity
    secrets: MeterSecrets
    clock: FleetClock
    security: Security
    profile: Profile
    faults: MeterFaults | None
    operator_public_key: ec.EllipticCurvePublicKey
    firmware_public_key: ec.EllipticCurvePublicKey


MeterFactory = Callable[[MeterRecipe], ServableMeter]


@dataclass(frozen=True)
class FleetConfig:
    """How to make and serve a fleet.

    ``port_base=None`` lets the OS pick every port (they are recorded in the inventory); otherwise
    meter *i* listens on ``port_base + i``. ``allowed_hosts`` is the communication modules' IP
    whitelist (``None``: anyone). ``start`` sets the fleet clock's start (``None``: real time).
    """

    meters: int
    seed: int = 0
    profile: str = "pl"
    security: Security = "hls-gmac"
    transport: Transport = "wrapper"
    tls: bool = False
    tls_dir: Path | None = None
    tls_stem: str = "fleet"
    host: str = "127.0.0.1"
    port_base: int | None = None
    allowed_hosts: Collection[str] | None = None
    fault_rates: FaultRates | None = None
    start: dt.datetime | None = None
    speed: float = 1.0
    idle_timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.meters < 1:
            raise FleetError("a fleet has at least one meter")
        if self.port_base is not None and not 1 <= self.port_base <= 65535 - self.meters + 1:
            raise FleetError("port base leaves no room for every meter below 65536")
        if self.tls and self.tls_dir is None:
            raise FleetError("TLS needs a directory for the fleet CA certificate")


@dataclass(eq=False)
class FleetMeter:
    """One served meter: identity, secrets and faults from the start; its model on the first
    connection (so a waiting meter costs a listening socket and this slot)."""

    index: int
    identity: MeterIdentity
    secrets: MeterSecrets = field(repr=False)
    faults: MeterFaults | None
    port: int = 0
    server: asyncio.Server | None = field(default=None, repr=False)
    sessions: int = 0
    _meter: ServableMeter | None = field(default=None, repr=False)


def raise_fd_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; refuse when ``needed`` still does not fit.

    Returns the soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise FleetError(
            f"{needed} file descriptors needed but the limit is {soft}; raise `ulimit -Hn`"
        )
    return soft


def _identities(config: FleetConfig) -> list[MeterIdentity]:
    """The fleet's meters from its seed alone: the same seed gives the same fleet."""
    rng = random.Random(f"metra-fleet-{config.seed}")
    first = rng.randrange(1, 90_000_000)
    types = list(CUSTOMER_WEIGHTS)
    weights = [CUSTOMER_WEIGHTS[t] for t in types]
    assert set(types) == set(CUSTOMER_TYPES)
    made: list[MeterIdentity] = []
    for i in range(config.meters):
        customer = rng.choices(types, weights)[0]
        phases = 3 if customer == "small-business" or rng.random() < 0.3 else 1
        identity = MeterIdentity.for_number(
            first + i, customer_type=customer, phases=phases, seed=rng.getrandbits(63)
        )
        made.append(identity)
    return made


class Fleet:
    """N virtual meters, each served at its own port; use ``async with Fleet(...) as fleet``.

    ``meter_factory`` makes a meter's object model from its :class:`MeterRecipe` (the default
    makes a ``VirtualMeter``); tests pass small models of their own.
    """

    def __init__(self, config: FleetConfig, meter_factory: MeterFactory | None = None) -> None:
        self.config = config
        self.clock = FleetClock(config.start, config.speed)
        self.profile = load_profile(config.profile)
        self._factory = meter_factory or _virtual_meter
        self.operator_key = ec.generate_private_key(ec.SECP256R1())
        self.firmware_key = ec.generate_private_key(ec.SECP256R1())
        self.tls: FleetTls | None = None
        self.meters: list[FleetMeter] = []
        self._connections: set[asyncio.Task[None]] = set()
        self.pushes = PushSender()
        self._pusher: asyncio.Task[None] | None = None
        now = self.clock.now()
        for index, identity in enumerate(_identities(config)):
            faults = None
            if config.fault_rates is not None:
                faults = MeterFaults.generate(
                    config.fault_rates, identity.seed, now - FAULT_HISTORY, now + FAULT_FUTURE
                )
            secrets = MeterSecrets.generate(suite1=config.security == "suite1")
            self.meters.append(FleetMeter(index, identity, secrets, faults))

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------- serving

    async def start(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Open every meter's listening socket; ``progress(done, total)`` follows the start."""
        config = self.config
        raise_fd_limit(config.meters + FD_HEADROOM)
        if config.tls:
            assert config.tls_dir is not None
            self.tls = make_fleet_tls(config.tls_dir, config.tls_stem, [config.host])
        context = self.tls.server_context if self.tls is not None else None
        total = len(self.meters)
        ports = PortPicker(*ephemeral_range()).candidates()
        try:
            for slot in self.meters:
                sock = self._listen(slot, ports)
                slot.server = await asyncio.start_server(
                    self._connection_handler(slot), sock=sock, ssl=context, backlog=_BACKLOG
                )
                slot.port = sock.getsockname()[1]
                if progress is not None and (slot.index % 100 == 99 or slot.index + 1 == total):
                    progress(slot.index + 1, total)
                if slot.index % 500 == 499:
                    await asyncio.sleep(0)
        except (OSError, FleetError):
            await self.stop()
            raise
        self._pusher = asyncio.create_task(self.pushes.run(self._made))

    def _listen(self, slot: FleetMeter, ports: Iterator[int]) -> socket.socket:
        """``slot``'s listening socket: at ``port_base + index``, or on the next free port of
        the ephemeral range (see :mod:`metra.meter.fleet_ports` for why not port 0)."""
        host = self.config.host
        if self.config.port_base is not None:
            port = self.config.port_base + slot.index
            sock = listening_socket(host, port, _BACKLOG)
            if sock is None:
                raise OSError(errno.EADDRINUSE, f"port {port} of {host} is in use")
            return sock
        for port in ports:
            sock = listening_socket(host, port, _BACKLOG)
            if sock is not None:
                return sock
        raise FleetError(f"no free port left in the ephemeral range of {host}")

    def _made(self) -> list[ServableMeter]:
        """The meters made so far (only they can have a push configured)."""
        return [slot._meter for slot in self.meters if slot._meter is not None]

    async def stop(self) -> None:
        """Stop pushing and listening, and end every open session."""
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
            self._pusher = None
        for slot in self.meters:
            if slot.server is not None:
                slot.server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        for slot in self.meters:
            if slot.server is not None:
                await slot.server.wait_closed()
                slot.server = None

    def _connection_handler(
        self, slot: FleetMeter
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(slot, reader, writer)

        return on_connect

    async def _serve(
        self, slot: FleetMeter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(cast("asyncio.Task[None]", task))
        try:
            faults = slot.faults
            if faults is not None and faults.offline_at(self.clock.now()):
                # Offline communication module: the connection ends before a byte is read.
                writer.transport.abort()
                return
            meter = self.meter(slot)
            out = writer
            if faults is not None and needs_faulty_writer(faults):
                slot.sessions += 1
                rng = random.Random(f"metra-link-{slot.identity.seed}-{slot.sessions}")
                out = cast(asyncio.StreamWriter, FaultyWriter(writer, faults, rng))
            await serve_session(
                meter,
                self.config.transport,
                reader,
                out,
                idle_timeout=self.config.idle_timeout,
                allowed_hosts=self.config.allowed_hosts,
            )
        finally:
            self._connections.discard(cast("asyncio.Task[None]", task))

    # ---------------------------------------------------------------------------- meters

    def recipe(self, slot: FleetMeter) -> MeterRecipe:
        """What the factory gets to make ``slot``'s meter."""
        return MeterRecipe(
            identity=slot.identity,
            secrets=slot.secrets,
            clock=self.clock,
            security=self.config.security,
            profile=self.profile,
            faults=slot.faults,
            operator_public_key=self.operator_key.public_key(),
            firmware_public_key=self.firmware_key.public_key(),
        )

    def meter(self, slot: FleetMeter) -> ServableMeter:
        """The slot's meter model, made on first use and kept (journals, counters persist)."""
        if slot._meter is None:
            slot._meter = self._factory(self.recipe(slot))
        return slot._meter

    # ---------------------------------------------------------------------------- inventory

    def inventory(self) -> Inventory:
        """The fleet's inventory with plain keys (in memory; :meth:`write_inventory` wraps them).

        Every meter of a fleet shares one association layout, so it is read from the first
        meter's model and applied to all (making every model would defeat lazy creation).
        """
        layout = self.meter(self.meters[0]).associations("wan")
        return Inventory(
            meters=tuple(self._inventory_meter(slot, layout) for slot in self.meters),
            seed=self.config.seed,
            profile=self.config.profile,
            security=self.config.security,
            transport=self.config.transport,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ca_file=self.tls.ca_file if self.tls is not None else None,
            signing_keys={"operator": self.operator_key, "firmware": self.firmware_key},
        )

    def _inventory_meter(
        self, slot: FleetMeter, layout: Mapping[int, AssociationConfig]
    ) -> InventoryMeter:
        secrets = slot.secrets
        associations = {
            sap: InventoryAssociation(
                client_sap=sap,
                name=config.name,
                mechanism=config.mechanism,
                suite=config.security.suite if config.security is not None else 0,
                wan=secrets.wan.get(sap),
                optical=secrets.optical.get(sap),
            )
            for sap, config in sorted(layout.items())
        }
        return InventoryMeter(
            serial=slot.identity.serial,
            system_title=slot.identity.system_title,
            customer_type=slot.identity.customer_type,
            phases=slot.identity.phases,
            host=self.config.host,
            port=slot.port,
            transport=self.config.transport,
            tls=self.config.tls,
            server_address=SERVER_ADDRESS,
            physical_address=0,
            security=self.config.security,
            associations=associations,
            han_key=secrets.han_key,
            master_key=secrets.master_key,
            meter_public_key=(
                secrets.signing_key.public_key() if secrets.signing_key is not None else None
            ),
        )

    def write_inventory(self, path: Path, kek: bytes) -> None:
        """Write the inventory with every key wrapped under ``kek`` (never a plain key)."""
        write_inventory(path, self.inventory(), kek)

    def by_serial(self) -> dict[str, FleetMeter]:
        """The fleet's slots keyed by serial number."""
        return {slot.identity.serial: slot for slot in self.meters}


def _virtual_meter(recipe: MeterRecipe) -> ServableMeter:
    """The default factory: a full :class:`~metra.meter.meter.VirtualMeter`."""
    from .meter import VirtualMeter

    return VirtualMeter(
        recipe.identity,
        recipe.secrets,
        recipe.clock,
        profile=recipe.profile,
        security=recipe.security,
        faults=recipe.faults,
        operator_public_key=recipe.operator_public_key,
        firmware_public_key=recipe.firmware_public_key,
    )
