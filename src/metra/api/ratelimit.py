"""Rate limits per token (and per source address before authentication): a token bucket.

Why a bucket: a client may burst (a console page loads several resources at once) but not keep
a rate above `rate_per_s`; a refusal says when the next call will be accepted (`Retry-After`).
The state is per process and in memory, which is what one `metra serve` needs; several API
processes behind a balancer each enforce the limit on what they see.
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
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
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
