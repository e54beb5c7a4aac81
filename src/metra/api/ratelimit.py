"""Rate limits per token (and per source address before authentication): a token bucket.

Why a bucket: a client may burst (a console page loads several resources at once) but not keep
a rate above `rate_per_s`; a refusal says when the next call will be accepted (`Retry-After`).
The state is per process and in memory, which is what one `metra serve` needs; several API
processes behind a balancer each enforce the limit on what they see.

A refusal is also a security event (SEC-8: a client hammering the API is abuse or an attack),
but a flood must not become a flood of journal rows: `refused` says when a key's refusal
should be reported, at most once per `report_every_s`, with how many were refused since.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets keyed by an opaque string (a token digest or a source address)."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        report_every_s: float = 60.0,
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self.report_every_s = report_every_s
        self._buckets: dict[str, tuple[float, float]] = {}
        self._reports: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """False when the limit is turned off (rate 0)."""
        return self.rate > 0

    def take(self, key: str) -> float | None:
        """Spend one call of `key`'s bucket: None when allowed, else seconds until allowed."""
        if not self.enabled:
            return None
        now = self.clock()
        with self._lock:
            level, stamp = self._buckets.get(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - stamp) * self.rate)
            if level >= 1.0:
                self._store(key, level - 1.0, now)
                return None
            self._store(key, level, now)
            return (1.0 - level) / self.rate

    def refused(self, key: str) -> int | None:
        """Count a refusal of `key`: the number refused since its last report when this one
        should be reported (the first, then once per `report_every_s`), else None."""
        now = self.clock()
        with self._lock:
            last, count = self._reports.get(key, (None, 0))
            count += 1
            if last is not None and now - last < self.report_every_s:
                self._reports[key] = (last, count)
                return None
            if key not in self._reports and len(self._reports) >= self.max_keys:
                stale = [k for k, (t, _) in self._reports.items() if now - t >= self.report_every_s]
                for k in stale or list(self._reports)[: self.max_keys // 2]:
                    del self._reports[k]
            self._reports[key] = (now, 0)
            return count

    def _store(self, key: str, level: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            # Bounded memory under a flood of distinct keys: forget the full (idle) buckets.
            full = [k for k, (lvl, _) in self._buckets.items() if lvl >= self.burst - 1]
            for k in full or list(self._buckets)[: self.max_keys // 2]:
                del self._buckets[k]
        self._buckets[key] = (level, now)


def retry_after(seconds: float) -> str:
    """The `Retry-After` header value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))
