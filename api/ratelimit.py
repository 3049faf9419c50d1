"""A token bucket per client address, for endpoints anyone on the network can call."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from api.errors import TooManyRequests


@dataclass
class RateLimiter:
    """``per_minute`` requests a minute per key, with bursts up to the same number."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """0 if the request may go on, else the seconds until it may be retried."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        rate = self.per_minute / 60.0
        tokens, since = self._buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - since) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            # Forget the oldest callers rather than grow without bound.
            for stale in sorted(self._buckets, key=lambda k: self._buckets[k][1])[:5_000]:
                del self._buckets[stale]
        return 0.0


def retry_after(seconds: float) -> int:
    """Whole seconds for a Retry-After header (at least 1)."""
    return max(1, math.ceil(seconds))


def limit(limiter: RateLimiter, request: Request, what: str) -> None:
    """Raise 429 with Retry-After when the request's address has used up its bucket."""
    caller = request.client.host if request.client else "unknown"
    wait = limiter.take(caller)
    if wait:
        raise TooManyRequests(
            f"too many {what} requests from this address", retry_after_seconds=retry_after(wait)
        )
