"""The yardsticks a window is measured against, computed from the same fleet and durations.

- ideal: a sliding window that starts the next instance the instant a slot frees (zero
  polling delay, zero API cost), each instance then verified for exactly its own scan time;
- lock-step: batches of `concurrency` as Ansible's `serial` runs them; a batch waits for its
  slowest host (install, reboot and verification) before the next starts;
- Run Command's own rate control (`run_command`): what a Systems Manager user gets from one
  SendCommand per wave with MaxConcurrency/MaxErrors. The service starts the next target when
  a slot frees, after its own dispatch delay; once errors exceed MaxErrors nothing new starts;
  the user polls ListCommands every 60 s and lists the invocations when the command is done.
  It gives up what patchwave adds (leases, verification scans and health checks counting
  toward max_errors, resume), so its time is installs only;
- lower bound: max(longest instance, total instance time / concurrency).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

PAGE = 50  # ListCommandInvocations returns at most 50 invocations a page


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


@dataclass(frozen=True)
class ApiCost:
    """How the reference's calls are paid: each call's latency, and the token bucket that
    throttles ListCommandInvocations (the same figures the simulated fleet uses)."""

    latency_s: float = 0.08
    list_rate_per_s: float = 5.0
    burst: int = 20


@dataclass(frozen=True)
class RunCommandWave:
    seconds: float
    calls: dict[str, int]
    started: int
    halted: bool


def run_command(
    work: Sequence[float],
    failed: Sequence[bool],
    concurrency: int,
    max_errors: int,
    *,
    dispatch_delay: float = 2.0,
    poll_every: float = 60.0,
    cost: ApiCost = ApiCost(),
) -> RunCommandWave:
    """One SendCommand for the wave's targets in plan order; ``work`` is each invocation's
    natural length (delivery, install, reboot; a stuck agent runs to the document's timeout)
    and ``failed`` whether it ends Failed or Execution Timed Out (counted toward MaxErrors)."""
    slots = [cost.latency_s] * min(concurrency, max(1, len(work)))  # after SendCommand returns
    heapq.heapify(slots)
    ends: list[tuple[float, bool]] = []
    errors, started, halted, last = 0, 0, False, cost.latency_s
    for index, (duration, bad) in enumerate(zip(work, failed, strict=True)):
        free_at = heapq.heappop(slots)
        # errors that ended before this slot freed stop the dispatch (MaxErrors exceeded)
        while ends and ends[0][0] <= free_at:
            errors += heapq.heappop(ends)[1]
        if errors > max_errors:
            halted = True
            break
        start = free_at + (dispatch_delay if index >= concurrency else 0.0)
        finish = start + duration
        started += 1
        last = max(last, finish)
        heapq.heappush(slots, finish)
        heapq.heappush(ends, (finish, bad))
    polls = max(1, math.ceil(last / poll_every))
    pages = max(1, math.ceil(started / PAGE))
    throttled = max(0, pages - cost.burst) / cost.list_rate_per_s
    listing = pages * cost.latency_s + throttled
    return RunCommandWave(
        seconds=polls * poll_every + listing,
        calls={"SendCommand": 1, "ListCommands": polls, "ListCommandInvocations": pages},
        started=started,
        halted=halted,
    )
