"""Rate limits a definition declares, held by token buckets.

A ``rate_limit: {requests: N, per_seconds: S}`` allows N requests every S seconds: a bucket
of N tokens refilled at N/S a second. An endpoint's own limit is its own bucket; the
top-level limit is one bucket shared by every endpoint without its own (the destination
counts them together). Thread-safe: sync's workers take tokens concurrently. The clock is
injected so that tests see the waits without spending them.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from .model import Definition, RateLimit


class TokenBucket:
    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.capacity = float(limit.requests)
        self.rate = limit.requests / limit.per_seconds  # tokens a second
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.lock = threading.Lock()

    def take(self) -> float:
        """Take a token: 0 when one was there, else the seconds to wait for it (it is taken
        now, so a caller that waits that long may send)."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= 1
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class RateLimits:
    """The buckets of one definition, by endpoint."""

    def __init__(self, definition: Definition, clock: Callable[[], float] = time.monotonic):
        shared = TokenBucket(definition.rate_limit, clock) if definition.rate_limit else None
        self.buckets: dict[str, TokenBucket | None] = {
            e.name: TokenBucket(e.rate_limit, clock) if e.rate_limit else shared for e in definition.endpoints}

    def take(self, endpoint: str) -> float:
        """Seconds to wait before sending to ``endpoint`` (0: send now)."""
        bucket = self.buckets.get(endpoint)
        return bucket.take() if bucket is not None else 0.0
