"""When to try again: Amplitude's retry rule as one policy shared by the sync engine and the
Behavioral Cohorts client.

A failed request is retried up to 8 times with exponential backoff from 1 second, capped near
2 minutes, with jitter so parallel senders do not retry in step; a ``Retry-After`` the server
sent wins over the computed delay, up to ``max_retry_after`` (5 minutes): a longer one is not
waited out — a hostile or confused header cannot park a sync for a day; the sync engine
leaves that batch owed to the next run instead (see :meth:`RetryPolicy.honours`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 8
    base: float = 1.0  # seconds before the first retry
    cap: float = 120.0  # no computed delay is longer
    jitter: float = 0.2  # +/- this fraction of the delay
    max_retry_after: float = 300.0  # the longest Retry-After waited out
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base < 0 or self.cap < 0 or not 0 <= self.jitter <= 1 \
                or self.max_retry_after < 0:
            raise ValueError("retry policy values must be non-negative (jitter between 0 and 1)")
        object.__setattr__(self, "_random", random.Random(self.seed))

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        delay = min(self.cap, self.base * 2 ** (retry - 1))
        spread = delay * self.jitter
        return max(0.0, delay + self._random.uniform(-spread, spread))  # type: ignore[attr-defined]

    def honours(self, retry_after: float | None) -> bool:
        """A ``Retry-After`` this policy waits out (none, or at most ``max_retry_after``)."""
        return retry_after is None or retry_after <= self.max_retry_after

    def should_retry(self, retries_done: int) -> bool:
        return retries_done < self.max_retries
