"""Scan: run AWS-RunPatchBaseline with Operation=Scan on instances and wait for it.

Nothing is installed and nothing reboots; the instances report fresh patch states against the
run's snapshot. Sends in commands of 50, waits with the injected clock, gives up on an instance
at the deadline (cancelling it), and returns each instance's final invocation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from patchwave.clock import Clock
from patchwave.fleet import Fleet, Invocation
from patchwave.state.leases import Leases
from patchwave.window.commands import CommandTracker
from patchwave.window.polling import PollPolicy

ProgressCallback = Callable[[int, int], None]


def run_scan(
    fleet: Fleet,
    clock: Clock,
    instance_ids: Sequence[str],
    *,
    snapshot_id: str,
    run_id: str,
    timeout: dt.timedelta,
    on_progress: ProgressCallback | None = None,
    policy: PollPolicy | None = None,
    leases: Leases | None = None,
) -> dict[str, Invocation]:
    """Instances another run holds (``leases``) are not scanned: their last report stands, and
    the run takes their lease before it installs anything on them."""
    results: dict[str, Invocation] = {}
    if leases is not None and instance_ids:
        now = clock.now()
        refused = leases.acquire(run_id, instance_ids, now, now + timeout + timeout)
        for instance_id, holder in refused.items():
            results[instance_id] = Invocation("", instance_id, "Skipped", f"held by run {holder}")
        instance_ids = [i for i in instance_ids if i not in refused]
        try:
            results.update(
                _scan(fleet, clock, instance_ids, snapshot_id, run_id, timeout, on_progress, policy)
            )
        finally:
            leases.release(run_id, instance_ids)
        return results
    return _scan(fleet, clock, instance_ids, snapshot_id, run_id, timeout, on_progress, policy)


def _scan(
    fleet: Fleet,
    clock: Clock,
    instance_ids: Sequence[str],
    snapshot_id: str,
    run_id: str,
    timeout: dt.timedelta,
    on_progress: ProgressCallback | None,
    policy: PollPolicy | None,
) -> dict[str, Invocation]:
    results: dict[str, Invocation] = {}
    if not instance_ids:
        return results
    policy = policy or PollPolicy(min_interval=5, max_interval=60, prior_seconds=60)
    tracker = CommandTracker(fleet, clock)
    deadline = clock.now() + timeout
    tracker.send(
        instance_ids,
        operation="Scan",
        reboot_option="NoReboot",
        snapshot_id=snapshot_id,
        run_id=run_id,
        deadline=deadline,
    )
    total = len(instance_ids)
    done = 0
    while tracker.active:
        wait = policy.interval(clock.now(), tracker.in_flight())
        until_deadline = (deadline - clock.now()).total_seconds()
        clock.sleep(max(1.0, min(wait, until_deadline + 1)))
        polled = tracker.poll()
        if polled.new_completions:
            elapsed = (clock.now() - min(t.sent_at for t in tracker.all)).total_seconds()
            policy.observe(elapsed, polled.new_completions)
        for _, invocation in polled.finished:
            results[invocation.instance_id] = invocation
        by_command: dict[str, list[str]] = {}
        for tracked, instance_id in polled.overdue:
            results[instance_id] = Invocation(
                tracked.command_id, instance_id, "TimedOut", "patchwave deadline passed"
            )
            by_command.setdefault(tracked.command_id, []).append(instance_id)
        for tracked in list(tracker.active.values()):
            if tracked.command_id in by_command:
                tracker.abandon(tracked, by_command[tracked.command_id])
        done = sum(t.completed for t in tracker.all)
        if on_progress:
            on_progress(min(done, total), total)
    return results
