"""A token bucket per API in simulated time: what Systems Manager's request rate limits do."""

from __future__ import annotations

import datetime as dt


class TokenBucket:
    def __init__(self, rate_per_second: float, burst: int, now: dt.datetime) -> None:
        self.rate = rate_per_second
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = now

    def wait_needed(self, now: dt.datetime) -> float:
        """Seconds until a token is free (0 if one is free now); takes it when free."""
        elapsed = (now - self.updated).total_seconds()
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now
        if self.tokens >= 1 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1)
            return 0.0
        # at least a millisecond: clocks count in microseconds, a smaller wait would not move them
        return max(0.001, (1 - self.tokens) / self.rate)
