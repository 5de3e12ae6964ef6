"""The yardsticks a window is measured against, computed from the same fleet and durations.

- ideal: a sliding window that starts the next instance the instant a slot frees (zero polling
  delay, zero API cost), each instance then verified for exactly its own scan time;
- lock-step: batches of `concurrency` as Ansible's `serial` runs them; a batch waits for its
  slowest host (install, reboot and verification) before the next starts;
- lower bound: max(longest instance, total instance time / concurrency).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def ideal_makespan(work: Sequence[float], verify: Sequence[float], concurrency: int) -> float:
    """Instances in plan order; work holds a slot, verification does not."""
    slots = [0.0] * min(concurrency, max(1, len(work)))
    heapq.heapify(slots)
    end = 0.0
    for duration, check in zip(work, verify, strict=True):
        start = heapq.heappop(slots)
        finish = start + duration
        heapq.heappush(slots, finish)
        end = max(end, finish + check)
    return end


def lockstep_makespan(work: Sequence[float], verify: Sequence[float], concurrency: int) -> float:
    total = 0.0
    for i in range(0, len(work), concurrency):
        total += max(
            w + v for w, v in zip(work[i : i + concurrency], verify[i : i + concurrency], strict=True)
        )
    return total


def lower_bound(work: Sequence[float], concurrency: int) -> float:
    if not work:
        return 0.0
    return max(max(work), sum(work) / concurrency)
