"""When to look again: poll when completions are likely, back off when nothing can change.

Every poll costs API calls; every completion it notices late leaves a concurrency slot idle.
What the idle slot costs is wave time: with W instances in flight (of which E can be finishing,
each after about ``typical`` seconds) completions arrive at r = E / typical, and polling every
D seconds leaves about r * D**2 / 2 slot-seconds idle per poll, which delays a wave of W slots
by D**2 * E / (2 * typical * W) seconds. The interval that costs ``wave_seconds_per_poll`` of
wave time per poll is therefore

    D = sqrt(2 * wave_seconds_per_poll * typical * W / E)

It does not depend on the wave's width: a canary of 10 slots and a wave of 3,000 lose the same
share of their time per poll and pay the same calls per poll, so they poll alike. (Budgeting
idle slot-seconds instead made narrow waves poll rarely, losing 4% of their time, and wide
waves poll often, spending calls for a fraction of a percent: measured in benchmarks/README.md.)

The durations are learnt from the completions between two polls (dated at the later one); an
instance younger than the shortest duration seen cannot be finishing, and when nothing in flight
can finish yet, the policy sleeps until something can. Bounds keep it sane before anything has
been seen.
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
    wave_seconds_per_poll: float = 0.5  # wave time one poll is worth (it costs ~3 API calls)
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
        total = 0
        soonest = math.inf
        for started, count in in_flight:
            total += count
            age = (now - started).total_seconds()
            if age >= shortest:
                eligible += count
            else:
                soonest = min(soonest, shortest - age)
        if eligible == 0:
            return min(self.max_interval, max(self.min_interval, soonest))
        step = math.sqrt(2 * self.wave_seconds_per_poll * max(self.typical, 1.0) * total / eligible)
        return min(self.max_interval, max(self.min_interval, step))
