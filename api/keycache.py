"""The API keys an API process has looked up recently, so most requests skip the database.

A request's key is hashed (the table holds only hashes) and looked up here first; an entry
is trusted for ``Settings.api_key_cache_seconds`` after the database said the key was
active, then read again. Only keys found active are remembered, so a new key works at
once and a wrong key costs a read every time; a revoked key keeps working for at most
the cache time in a process that had just seen it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from api.auth import Caller

# Enough for every key of a deployment; past it the oldest entries go first.
MAX_ENTRIES = 1024


@dataclass(frozen=True)
class _Entry:
    caller: Caller
    expires: float


class KeyCache:
    """Callers by key hash, each until its entry expires (monotonic clock)."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def get(self, key_hash: str) -> Caller | None:
        """The caller remembered for ``key_hash``, unless it is unknown or expired."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._entries[key_hash]
            return None
        return entry.caller

    def put(self, key_hash: str, caller: Caller) -> None:
        """Remember an active key's caller for the cache time (nothing if it is 0)."""
        if self.ttl <= 0:
            return
        self._entries.pop(key_hash, None)
        while len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]
        self._entries[key_hash] = _Entry(caller, self._clock() + self.ttl)
