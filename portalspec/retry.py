"""When to try again: Amplitude's retry rule as one policy shared by the sync engine and the
Behavioral Cohorts client.

A failed request is retried up to 8 times with exponential backoff from 1 second, capped near
2 minutes, with jitter so parallel senders do not retry in step; a ``Retry-After`` the server
sent wins over the computed delay (but never beyond the cap's tenfold, so a hostile header
cannot park a sync for a day).
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
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base < 0 or self.cap < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("retry policy values must be non-negative (jitter between 0 and 1)")
        object.__setattr__(self, "_random", random.Random(self.seed))

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.cap * 10)
        delay = min(self.cap, self.base * 2 ** (retry - 1))
        spread = delay * self.jitter
        return max(0.0, delay + self._random.uniform(-spread, spread))  # type: ignore[attr-defined]

    def should_retry(self, retries_done: int) -> bool:
        return retries_done < self.max_retries
