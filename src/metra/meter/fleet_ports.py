"""Listening sockets for a fleet: one per meter, on ports the fleet picks itself.

Why not let the OS pick (bind to port 0)? Linux finds a free ephemeral port by walking the range
and checking each candidate's bind bucket, and with ``SO_REUSEADDR`` (which a listening server
sets) it may walk it twice. With ten thousand listeners already bound -- another fleet or bench on
the same host, or this fleet's own first meters -- each such bind costs milliseconds of kernel
time: 10,000 meters took 63 s to start next to another 10,000-meter fleet (116 s on a loaded
machine) instead of a few seconds. Binding an explicit port is one hash lookup, so the fleet walks
the same ephemeral range itself, from a random point, and skips the ports in use: the ports the OS
would have handed out, without the scan.
"""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["EPHEMERAL_RANGE_FILE", "PortPicker", "ephemeral_range", "listening_socket"]

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: IANA's dynamic port range (RFC 6335), when the system does not say which range it uses.
_DYNAMIC = (49152, 65535)


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The system's ephemeral port range (inclusive), or IANA's dynamic range."""
    try:
        low, high = (int(v) for v in path.read_text().split())
    except (OSError, ValueError):
        return _DYNAMIC
    if not 1 <= low <= high <= 65535:
        return _DYNAMIC
    return low, high


def listening_socket(host: str, port: int, backlog: int) -> socket.socket | None:
    """A non-blocking socket listening on ``host:port``; ``None`` when the port is taken.

    Other errors (a host that is not local, no descriptors left) are raised: skipping to the
    next port would not help.
    """
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICSERV
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    sock.setblocking(False)
    return sock


class PortPicker:
    """Free ports of the ephemeral range, walked once from a random start (wrapping around)."""

    def __init__(self, low: int, high: int, rng: random.Random | None = None) -> None:
        self.low, self.high = low, high
        self._start = (rng or random.Random()).randrange(low, high + 1)

    def candidates(self) -> Iterator[int]:
        """Every port of the range once, from the random start."""
        span = self.high - self.low + 1
        offset = self._start - self.low
        for i in range(span):
            yield self.low + (offset + i) % span
