"""Token buckets per client address: for endpoints anyone on the network can call, and for
wrong API keys (each costs a database read, and guessing must not be free)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
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

    def _tokens(self, key: str, now: float) -> float:
        tokens, since = self._buckets.get(key, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - since) * self.per_minute / 60.0)

    def wait(self, key: str) -> float:
        """Like :meth:`take`, without taking: 0 if a request may go on now."""
        if self.per_minute <= 0:
            return 0.0
        tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / (self.per_minute / 60.0)

    def take(self, key: str) -> float:
        """0 if the request may go on, else the seconds until it may be retried."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        rate = self.per_minute / 60.0
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:
            # Forget the oldest callers rather than grow without bound.
            for stale in sorted(self._buckets, key=lambda k: self._buckets[k][1])[:5_000]:
                del self._buckets[stale]
        return 0.0


# Keys remembered as valid (by hash), per process: enough for every key of a deployment.
MAX_GOOD_KEYS = 4096


class FailedKeyGuard:
    """Wrong API keys per client address: ``per_minute`` of them (in bursts of as many),
    then 429 with Retry-After until the address's bucket refills.

    A key this process has once found valid is never held up, so a service sharing an
    address (a NAT, a proxy) with a key guesser keeps working. A valid key the process has
    never seen waits like a wrong one while its address is blocked: telling it apart would
    take the database read the block is there to save, and would let the guesser test keys.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._failures = RateLimiter(per_minute, clock)
        self._good: OrderedDict[str, None] = OrderedDict()

    def check(self, address: str, key_hash: str) -> None:
        """Raise 429 if ``address`` has used up its wrong keys and this key is not known good."""
        if key_hash in self._good:
            return
        wait = self._failures.wait(address)
        if wait:
            raise TooManyRequests(
                "too many requests with a wrong API key from this address",
                retry_after_seconds=retry_after(wait),
            )

    def failed(self, address: str, key_hash: str) -> None:
        """Count a wrong (unknown or revoked) key against ``address``."""
        self._good.pop(key_hash, None)
        self._failures.take(address)

    def succeeded(self, key_hash: str) -> None:
        """Remember a key the database found active."""
        self._good[key_hash] = None
        self._good.move_to_end(key_hash)
        while len(self._good) > MAX_GOOD_KEYS:
            self._good.popitem(last=False)


def client_address(request: Request) -> str:
    """The address a request came from, as the server saw it."""
    return request.client.host if request.client else "unknown"


def retry_after(seconds: float) -> int:
    """Whole seconds for a Retry-After header (at least 1)."""
    return max(1, math.ceil(seconds))


def limit(limiter: RateLimiter, request: Request, what: str) -> None:
    """Raise 429 with Retry-After when the request's address has used up its bucket."""
    wait = limiter.take(client_address(request))
    if wait:
        raise TooManyRequests(
            f"too many {what} requests from this address", retry_after_seconds=retry_after(wait)
        )
