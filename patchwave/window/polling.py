"""When to look again: poll when completions are likely, back off when nothing can change.

Every poll costs API calls; every completion it notices late costs a concurrency slot idle
time. With completions arriving at rate r (per second), polling every D seconds leaves about
r * D**2 / 2 slot-seconds idle per poll, so the interval that spends ``idle_budget`` idle
slot-seconds per poll is D = sqrt(2 * idle_budget / r): short when a wide wave completes
instances every few seconds, long when one canary instance takes ten minutes.

The rate is judged from what has been seen: durations are learnt from the completions between
two polls (dated at the later one); an instance younger than the shortest duration seen cannot
be finishing, and when nothing in flight can finish yet, the policy sleeps until something can.
Bounds keep it sane before anything has been seen.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

InFlight = Sequence[tuple[dt.datetime, int]]  # (started at, how many instances)


@dataclass
class PollPolicy:
    min_interval: float = 5.0
    max_interval: float = 60.0
    idle_budget: float = 100.0  # idle slot-seconds one poll is worth
    prior_seconds: float = 300.0  # the typical duration assumed before any is seen
    _seen: list[float] = field(default_factory=list)

    def observe(self, seconds: float, count: int = 1) -> None:
        index = bisect.bisect(self._seen, seconds)
        self._seen[index:index] = [seconds] * count

    @property
    def typical(self) -> float:
        if not self._seen:
            return self.prior_seconds
        return self._seen[len(self._seen) // 2]

    @property
    def shortest(self) -> float:
        return self._seen[0] if self._seen else 0.0

    def interval(self, now: dt.datetime, in_flight: InFlight) -> float:
        if not in_flight:
            return self.min_interval
        shortest = self.shortest
        eligible = 0
        soonest = math.inf
        for started, count in in_flight:
            age = (now - started).total_seconds()
            if age >= shortest:
                eligible += count
            else:
                soonest = min(soonest, shortest - age)
        if eligible == 0:
            return min(self.max_interval, max(self.min_interval, soonest))
        rate = eligible / max(self.typical, 1.0)
        step = math.sqrt(2 * self.idle_budget / rate)
        return min(self.max_interval, max(self.min_interval, step))
