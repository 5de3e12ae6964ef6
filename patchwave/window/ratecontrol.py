"""Rate control as Run Command defines it, for one wave (pure).

- ``max_concurrency``: at most this many instances are in their disruptive phase (install and
  reboot) at once. It is a sliding window: the moment a slot frees, the next instance may start;
  there are no lock-step batches.
- ``max_errors``: errors tolerated; at the first error beyond it the wave halts: nothing new
  starts, and what is in flight finishes. "0" halts at the first error.

Numbers are "N" or "N%" of the wave's instances to install; see ``patchwave.window.ratespec`` for the
rounding rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchwave.window.ratespec import concurrency_for, errors_tolerated


@dataclass
class RateControl:
    concurrency: int
    tolerated: int
    errors: int = 0
    stopped_reason: str | None = None

    @classmethod
    def for_wave(cls, max_concurrency: str, max_errors: str, instances: int) -> RateControl:
        return cls(concurrency_for(max_concurrency, instances), errors_tolerated(max_errors, instances))

    @property
    def halted(self) -> bool:
        """More errors than tolerated: the wave must not start anything new."""
        return self.errors > self.tolerated

    def record_errors(self, count: int) -> None:
        self.errors += count

    def free_slots(self, in_use: int) -> int:
        """How many instances may start now."""
        if self.halted or self.stopped_reason is not None:
            return 0
        return max(0, self.concurrency - in_use)
