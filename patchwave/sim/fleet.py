"""The simulated fleet: an in-process Fleet with Systems Manager's semantics.

Each command's timeline is decided when it is sent (delivery, execution, reboot, end), from
draws keyed by the seed; state changes are applied lazily, in time order, whenever a verb is
called. Every verb counts the API calls it stands for, by name and in chunks of 50 ids, and can
be throttled by a token bucket per API (the wait a client's adaptive retry mode would make).

It also keeps the evidence safety tests need: every instance touched, every command sent, and
any overlap (a second operation started on an instance while one was running).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
import os
import pickle
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from patchwave.baselines.catalog import builtin_catalog
from patchwave.baselines.evaluate import BaselineResolver, Verdict, evaluate
from patchwave.clock import Clock
from patchwave.config.baselines import Baseline, BaselinesFile
from patchwave.fleet import (
    CommandProgress,
    ComplianceSummary,
    InstancePatch,
    InstancePatchState,
    InstancesNotFound,
    Invocation,
    ManagedInstance,
    PatchCommand,
    PingInfo,
    ResolvedPatch,
    RootVolumeRefused,
    RootVolumeTask,
    SnapshotsStarted,
    VolumeSnapshot,
    chunks,
)
from patchwave.sim import draws, patches, state_file
from patchwave.sim.command_index import CommandIndex
from patchwave.sim.ebs import EbsRefused, SimEbs
from patchwave.sim.fleet_drain import DrainFleet
from patchwave.sim.inventory import FAILED, INSTALLED, PENDING_REBOOT, Inventory, report
from patchwave.sim.patch_details import describe_patches
from patchwave.sim.records import (
    EXECUTION_TIMEOUT,
    HARD_REBOOT_AFTER,
    PATCH_DOCUMENT,
    UNDELIVERABLE_AFTER,
    SimCommand,
    SimInstance,
    SimInvocation,
)
from patchwave.sim.spec import FleetSpec
from patchwave.sim.throttle import TokenBucket

COMMANDS_SINCE_MARGIN = dt.timedelta(minutes=5)  # how far before its oldest command a poll looks
EC2_IDS_PER_CALL = 200  # DescribeInstances with InstanceIds, as the adapter chunks it
EC2_PAGE = 1000  # DescribeInstances with filters (MaxResults)


class SimulatedFleet(DrainFleet):
    """A seeded, deterministic fleet behind the Fleet port."""

    def __init__(self, spec: FleetSpec, baselines: BaselinesFile, clock: Clock) -> None:
        self.spec = spec
        self.clock = clock
        self.resolver = BaselineResolver(baselines)
        self._behaviour = spec.behaviour
        self._lock = threading.RLock()
        self._calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._buckets: dict[str, TokenBucket] = {}
        self._instances: dict[str, SimInstance] = {}
        self._commands: dict[str, list[SimInvocation]] = {}
        self._command_info: dict[str, SimCommand] = {}
        self._index = CommandIndex()  # by position sent, executing, by instance: linear listings
        self._events: list[tuple[dt.datetime, int, str, object]] = []
        self._seq = itertools.count()
        self._snapshots: dict[str, dt.date] = {}
        self._verdicts: dict[tuple[str, dt.date], list[Verdict]] = {}
        self.touched: set[str] = set()
        self.sent: list[PatchCommand] = []
        self.overlaps: list[tuple[str, dt.datetime]] = []
        self.reboots: list[tuple[str, dt.datetime]] = []
        self.downtimes: list[tuple[str, dt.datetime, dt.datetime | None]] = []  # really down: from, until
        self._first_install: dict[str, dt.datetime] = {}
        self._build()

    # ----------------------------------------------------------------- construction
    def _build(self) -> None:
        seed = self.spec.seed
        for group in self.spec.groups:
            ids = group.ids or [
                draws.instance_id(seed, group.name, i, group.on_premises) for i in range(group.count or 0)
            ]
            catalog = builtin_catalog(group.platform).patches
            for instance_id in ids:
                applicable = frozenset(
                    p.id
                    for p in catalog
                    if draws.chance(seed, self._behaviour.applicable_rate, instance_id, p.id, "app")
                )
                present = {
                    pid: INSTALLED
                    for pid in sorted(applicable)
                    if not draws.chance(seed, self._behaviour.missing_rate, instance_id, pid, "miss")
                }
                self._instances[instance_id] = SimInstance(
                    instance_id=instance_id,
                    platform=group.platform,
                    tags=dict(group.tags),
                    ping_status=group.ping_status,
                    state="n/a" if group.on_premises else group.state,
                    inventory=Inventory(applicable, present),
                )
        start = self.spec.start
        behaviour = self._behaviour
        for kind, moments in (
            ("terminate", behaviour.terminate_at_minutes),
            ("stop", behaviour.stop_at_minutes),
        ):
            for instance_id, minutes in moments.items():
                inst = self._instances.get(instance_id)
                if inst is None:
                    continue
                at = start + dt.timedelta(minutes=minutes)
                if kind == "terminate":
                    inst.terminated_at = at
                else:
                    inst.stopped_at = at
                self._events_push(at, "vanish", instance_id)
        self._reported: dict[str, tuple[InstancePatchState, ComplianceSummary]] = {}
        # What the fleet reported at its last scan, a day before the simulation starts.
        last_scan = start - dt.timedelta(days=1)
        for inst in self._instances.values():
            baseline = self._baseline(inst)
            verdicts = self._verdicts_for(baseline, "previous-scan", last_scan)
            self._reported[inst.instance_id] = report(
                inst.instance_id,
                inst.patch_group,
                baseline,
                verdicts,
                inst.inventory,
                "previous-scan",
                "Scan",
                last_scan,
            )

    # ----------------------------------------------------------------- bookkeeping
    def _call(self, api: str, count: int = 1) -> None:
        """Count ``count`` calls of an API, waiting for the throttle and the latency."""
        throttling = self._behaviour.throttling
        latency = self._behaviour.api_latency_ms / 1000.0
        for _ in range(count):
            self._calls[api] += 1
            if throttling.enabled:
                bucket = self._buckets.get(api)
                if bucket is None:
                    rate = throttling.per_api.get(api, throttling.rate_per_second)
                    bucket = self._buckets[api] = TokenBucket(rate, throttling.burst, self.clock.now())
                wait = bucket.wait_needed(self.clock.now())
                while wait > 0:
                    self.throttled[api] += 1
                    self.clock.sleep(wait)
                    wait = bucket.wait_needed(self.clock.now())
            if latency:
                self.clock.sleep(latency)

    def charge(self, api: str, count: int = 1) -> None:
        """Count calls made from outside (the AWS emulator charges one per request it answers)."""
        with self._lock:
            self._call(api, count)

    def _advance(self) -> dt.datetime:
        """Apply every effect whose time has come; return now."""
        now = self.clock.now()
        while self._events and self._events[0][0] <= now:
            when, _, kind, payload = heapq.heappop(self._events)
            if kind == "end":
                assert isinstance(payload, SimInvocation)
                if payload.end == when:  # else rescheduled since (the node vanished)
                    self._apply(payload)
            elif kind == "report":
                assert isinstance(payload, SimInvocation)
                if payload.pending_report is not None:
                    self._reported[payload.instance_id] = payload.pending_report
                    payload.pending_report = None
            elif kind == "vanish":
                assert isinstance(payload, str)
                self._vanish(payload, when)
            elif kind == "alarm":  # SSM stops a command whose AlarmConfiguration alarm fired
                assert isinstance(payload, str)
                self.cancel(payload, [i.instance_id for i in self._commands[payload]], when)
            elif kind == "call":  # an effect of another model (EBS: a root volume replaced)
                payload()  # type: ignore[operator]
        return now

    def _events_push(self, when: dt.datetime, kind: str, payload: object) -> None:
        heapq.heappush(self._events, (when, next(self._seq), kind, payload))

    def _schedule(self, when: dt.datetime, invocation: SimInvocation) -> None:
        self._events_push(when, "end", invocation)

    def _baseline(self, inst: SimInstance) -> Baseline:
        return self.resolver.for_instance(inst.platform, inst.patch_group or None)

    def _verdicts_for(self, baseline: Baseline, snapshot_id: str, now: dt.datetime) -> list[Verdict]:
        """Approvals as of the snapshot's creation: every wave of a run installs one set."""
        on = self._snapshots.setdefault(snapshot_id, now.date())
        key = (baseline.name, on)
        if key not in self._verdicts:
            catalog = builtin_catalog(baseline.operating_system).patches
            self._verdicts[key] = evaluate(baseline, catalog, on)
        return self._verdicts[key]

    def _vanish(self, instance_id: str, when: dt.datetime) -> None:
        """A node stopped or terminated: what it was running ends as Run Command ends it. Not
        delivered yet: Undeliverable (terminated) or Delivery Timed Out (stopped); running:
        Execution Timed Out at the document's timeout (nothing reports)."""
        inst = self._instances[instance_id]
        terminated = inst.state_at(when) == "terminated"
        inst.busy_until, inst.busy_forever = None, False
        for inv in self._index.by_instance.get(instance_id, []):
            if inv.cancelled_at is not None:
                continue
            if inv.end is not None and inv.end <= when:
                continue
            inv.applied = True  # nothing it did is reported any more
            if when < inv.started:
                if terminated:
                    inv.started = inv.end = when + UNDELIVERABLE_AFTER
                    inv.final_status, inv.final_details = "Failed", "Undeliverable"
                else:
                    inv.started = inv.end = max(when, inv.deliver_by or when)
                    inv.final_status, inv.final_details = "TimedOut", "DeliveryTimedOut"
            else:
                inv.end = max(when, inv.started + EXECUTION_TIMEOUT)
                inv.final_status, inv.final_details = "TimedOut", "ExecutionTimedOut"
            self._schedule(inv.end, inv)

    # ----------------------------------------------------------------- what the APIs see
    def _lag(self) -> dt.timedelta:
        return dt.timedelta(minutes=self._behaviour.ping_lag_minutes)

    def _ping(self, inst: SimInstance, now: dt.datetime) -> PingInfo:
        interval = dt.timedelta(seconds=self._behaviour.ping_interval_seconds)
        if inst.ping_status != "Online":
            return PingInfo(inst.ping_status, self.spec.start - dt.timedelta(days=1))
        last = inst.last_ping(now, interval, self.spec.start - interval)
        return PingInfo(inst.ping_at(now, self._lag()), last)

    def managed(self, now: dt.datetime) -> list[SimInstance]:
        """The nodes DescribeInstanceInformation lists (not stopped, not terminated)."""
        return [i for i in self._instances.values() if i.managed_at(now)]

    def stopped_ec2(self, now: dt.datetime) -> list[SimInstance]:
        """EC2 instances stopped (DescribeInstances filtered by instance-state-name)."""
        return [
            i
            for i in self._instances.values()
            if i.instance_id.startswith("i-") and i.state_at(now) == "stopped"
        ]

    def ping_infos(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, PingInfo]:
        found: dict[str, PingInfo] = {}
        for instance_id in instance_ids:
            inst = self._instances.get(instance_id)
            if inst is not None and inst.managed_at(now):
                found[instance_id] = self._ping(inst, now)
        return found

    def unknown(self, instance_ids: Sequence[str], now: dt.datetime) -> list[str]:
        """Ids SendCommand and EC2 refuse: no such node, or terminated."""
        return [
            i
            for i in instance_ids
            if i not in self._instances or self._instances[i].state_at(now) == "terminated"
        ]

    def is_executing(self, command_id: str, now: dt.datetime) -> bool:
        return not all(inv.finished_at(now) for inv in self._commands[command_id])

    def commands_page(
        self,
        matches: Callable[[SimCommand], bool],
        cursor: int,
        size: int,
        invoked_after: dt.datetime | None = None,
        executing_at: dt.datetime | None = None,
    ) -> tuple[list[str], int | None]:
        """One page of ListCommands: the first ``size`` commands from position ``cursor`` (in
        the order they were sent) that match now, and the cursor of the next page, None when no
        later command matches. A cursor, not an offset: what finished since the last page does
        not shift the next one. ``invoked_after`` and ``executing_at`` (only commands executing
        then) narrow the commands looked at through the index; ``matches`` decides."""
        executing = None
        if executing_at is not None:
            at = executing_at

            def executing(command_id: str) -> bool:
                return self.is_executing(command_id, at)

        return self._index.page(matches, cursor, size, invoked_after, executing)

    def progress_of(self, command_id: str, now: dt.datetime) -> CommandProgress:
        invocations = self._commands[command_id]
        done = sum(inv.finished_at(now) for inv in invocations)
        errors = sum(inv.error_at(now) for inv in invocations)
        status = "InProgress" if done < len(invocations) else "Success" if errors == 0 else "Failed"
        return CommandProgress(command_id, status, len(invocations), done, errors)

    def command_info(self, command_id: str) -> SimCommand | None:
        return self._command_info.get(command_id)

    def invocations_of(self, command_id: str, now: dt.datetime) -> list[Invocation]:
        return [
            Invocation(command_id, inv.instance_id, *inv.status_at(now)) for inv in self._commands[command_id]
        ]

    def reported(self) -> dict[str, tuple[InstancePatchState, ComplianceSummary]]:
        """The last report of each node that still exists (compliance of terminated nodes is gone)."""
        now = self.clock.now()
        return {i: r for i, r in self._reported.items() if self._instances[i].state_at(now) != "terminated"}

    # ----------------------------------------------------------------- the port
    def list_instances(self) -> list[ManagedInstance]:
        """What the AWS adapter sees: managed nodes (DescribeInstanceInformation, 50 a page),
        their EC2 state and tags (DescribeInstances, 200 ids a call), the EC2 instances that
        are stopped (one filtered DescribeInstances), an on-premises node's tags
        (ListTagsForResource, one each)."""
        with self._lock:
            now = self._advance()
            managed = self.managed(now)
            stopped = self.stopped_ec2(now)
            ec2_ids = [i for i in managed if i.instance_id.startswith("i-")]
            self._call("DescribeInstanceInformation", max(1, math.ceil(len(managed) / 50)))
            self._call("DescribeInstances", math.ceil(len(ec2_ids) / EC2_IDS_PER_CALL))
            self._call("DescribeInstances", max(1, math.ceil(len(stopped) / EC2_PAGE)))
            self._call("ListTagsForResource", len(managed) - len(ec2_ids))
            return [
                ManagedInstance(
                    i.instance_id, i.platform, i.ping_at(now, self._lag()), i.state_at(now), dict(i.tags)
                )
                for i in [*managed, *stopped]
            ]

    def send_patch_command(self, command: PatchCommand) -> str:
        with self._lock:
            asked = self.clock.now()
            self._call("SendCommand")
            now = self._advance()
            self._refuse_unknown("SendCommand", command.instance_ids, now, "InvalidInstanceId")
            return self.start_command(command, now, command.comment, asked)

    def find_command(self, comment: str, since: dt.datetime) -> str | None:
        with self._lock:
            self._call("ListCommands")
            for info in self._command_info.values():
                if info.comment == comment and info.requested >= since:
                    return info.command_id
            return None

    def _refuse_unknown(
        self, operation: str, instance_ids: Sequence[str], now: dt.datetime, code: str
    ) -> None:
        unknown = self.unknown(instance_ids, now)
        if unknown:
            # SendCommand's InvalidInstanceId does not say which; EC2's NotFound does.
            named = unknown if code != "InvalidInstanceId" else []
            raise InstancesNotFound(operation, f"{code}: an instance id is not valid", named)

    def start_command(
        self, command: PatchCommand, now: dt.datetime, comment: str = "", asked: dt.datetime | None = None
    ) -> str:
        """Start a command on known ids (the caller has refused unknown ones)."""
        command_id = f"{next(self._seq):08x}-sim0-4000-8000-{len(self._commands):012x}"
        self.sent.append(command)
        invocations = [self._start(command_id, command, iid, now) for iid in command.instance_ids]
        for invocation in invocations:
            invocation.sent = now
            invocation.deliver_by = now + dt.timedelta(seconds=command.timeout_seconds)
            if command.operation == "Install":
                self._first_install.setdefault(invocation.instance_id, now)
        self._commands[command_id] = invocations
        self._command_info[command_id] = SimCommand(command_id, PATCH_DOCUMENT, now, comment, asked)
        self._index.add(self._command_info[command_id], invocations)
        self._watch_alarm(command_id, command.alarm, now)
        self.save()
        return command_id

    def _undelivered(
        self,
        command_id: str,
        command: PatchCommand,
        instance_id: str,
        end: dt.datetime,
        status: str,
        details: str,
    ) -> SimInvocation:
        """An invocation that never reaches its instance: it only ends, at ``end``."""
        inv = SimInvocation(
            command_id, instance_id, command.operation, command.snapshot_id, end, end, status, details
        )
        inv.applied = True
        self._schedule(end, inv)
        return inv

    def _start(
        self, command_id: str, command: PatchCommand, instance_id: str, now: dt.datetime
    ) -> SimInvocation:
        inst = self._instances[instance_id]
        self.touched.add(instance_id)
        seed, behaviour = self.spec.seed, self._behaviour
        timeout = now + dt.timedelta(seconds=command.timeout_seconds)
        forced = behaviour.status_details_by_id.get(instance_id)
        if forced == "DeliveryTimedOut":
            return self._undelivered(command_id, command, instance_id, timeout, "TimedOut", forced)
        if forced is not None:
            return self._undelivered(
                command_id, command, instance_id, now + UNDELIVERABLE_AFTER, "Failed", forced
            )
        if inst.ping_status == "Inactive":
            return self._undelivered(
                command_id, command, instance_id, now + UNDELIVERABLE_AFTER, "Failed", "Undeliverable"
            )
        if inst.busy_at(now):
            self.overlaps.append((instance_id, now))
        started = now + dt.timedelta(seconds=behaviour.delivery_seconds)
        if inst.down_at(now):  # delivered when the agent is back, if it is back in time
            back = inst.offline_until
            if back is None or back >= timeout:
                return self._undelivered(
                    command_id, command, instance_id, timeout, "TimedOut", "DeliveryTimedOut"
                )
            started = back + dt.timedelta(seconds=behaviour.delivery_seconds)
        if inst.ping_status != "Online" or not inst.managed_at(now):
            return self._undelivered(
                command_id, command, instance_id, timeout, "TimedOut", "DeliveryTimedOut"
            )
        baseline = self._baseline(inst)
        verdicts = self._verdicts_for(baseline, command.snapshot_id, now)
        if command.operation == "Scan":
            run = draws.lognormal_seconds(seed, behaviour.scan_minutes, instance_id, "scan", len(self.sent))
            end = started + dt.timedelta(seconds=run)
            inv = SimInvocation(
                command_id, instance_id, "Scan", command.snapshot_id, started, end, "Success", "Success"
            )
            inst.busy_until, inst.busy_forever = end, False
            self._schedule(end, inv)
            return inv
        inst.installs += 1
        attempt = inst.installs
        install = inst.inventory.to_install(baseline, verdicts, command.install_override)
        if instance_id in behaviour.install_minutes_by_id:
            run = behaviour.install_minutes_by_id[instance_id] * 60.0
        elif install:
            run = draws.lognormal_seconds(seed, behaviour.install_minutes, instance_id, "install", attempt)
        else:
            run = draws.lognormal_seconds(seed, behaviour.scan_minutes, instance_id, "noop", attempt)
        exec_end = started + dt.timedelta(seconds=run)
        inv = SimInvocation(
            command_id,
            instance_id,
            "Install",
            command.snapshot_id,
            started,
            exec_end,
            "Success",
            "Success",
            [p.id for p in install],
            reboot_option=command.reboot_option,
        )
        fails = (
            (instance_id in behaviour.flaky_ids and attempt == 1)
            or instance_id in behaviour.failing_ids
            or draws.chance(seed, behaviour.failure_rate, instance_id, "fail", attempt)
        )
        stuck = instance_id in behaviour.stuck_ids or draws.chance(
            seed, behaviour.stuck_rate, instance_id, "stuck", attempt
        )
        if behaviour.reboot_rate is not None:
            needs_reboot = bool(install) and draws.chance(
                seed, behaviour.reboot_rate, instance_id, "reboot", attempt
            )
        else:
            needs_reboot = any(p.reboot_required for p in install)
        needs_reboot = needs_reboot or inst.inventory.pending_reboot()
        inv.needs_reboot = needs_reboot and not fails
        if install and fails:
            inv.final_status, inv.final_details = "Failed", "Failed"
        elif stuck:
            inv.end = None
        elif inv.needs_reboot and command.reboot_option == "RebootIfNeeded":
            hang = instance_id in behaviour.reboot_hang_ids or draws.chance(
                seed, behaviour.reboot_hang_rate, instance_id, "hang", attempt
            )
            if hang:
                inst.go_down(exec_end, None)
                self.downtimes.append((instance_id, exec_end, None))
                inv.end = None
            else:
                reboot = draws.lognormal_seconds(
                    seed, behaviour.reboot_minutes, instance_id, "reboot", attempt
                )
                inst.go_down(exec_end, exec_end + dt.timedelta(seconds=reboot))
                self.downtimes.append((instance_id, exec_end, inst.offline_until))
                inv.end = inst.offline_until  # the document goes on, and ends, after the reboot
            self.reboots.append((instance_id, exec_end))
        if inv.end is None:
            inst.busy_forever = True
            # the agent gives up at the document's execution timeout
            inv.final_status, inv.final_details = "TimedOut", "ExecutionTimedOut"
            inv.end = started + EXECUTION_TIMEOUT
            inv.applied = True  # nothing gets installed by an invocation that never finishes
        else:
            inst.busy_until, inst.busy_forever = inv.end, False
        self._schedule(inv.end, inv)
        return inv

    def _apply(self, inv: SimInvocation) -> None:
        """The effects of an invocation reaching its end (installing, then reporting)."""
        inst = self._instances.get(inv.instance_id)
        if inst is None or inv.cancelled_at is not None or inv.end is None:
            return
        if inst.busy_forever and inv.applied:
            inst.busy_forever = False
        if inv.applied:
            return
        inv.applied = True
        baseline = self._baseline(inst)
        verdicts = self._verdicts_for(baseline, inv.snapshot_id, inv.end)
        present = inst.inventory.present
        if inv.operation == "Install":
            if inv.final_status == "Failed":
                if inv.install:
                    present[inv.install[0]] = FAILED
            else:
                rebooted = inv.needs_reboot and inv.reboot_option == "RebootIfNeeded"
                by_id = {v.patch.id: v.patch for v in verdicts}
                for patch_id in inv.install:
                    patch = by_id[patch_id]
                    pending = (
                        inv.needs_reboot
                        and not rebooted
                        and (patch.reboot_required or self._behaviour.reboot_rate is not None)
                    )
                    present[patch_id] = PENDING_REBOOT if pending else INSTALLED
                if rebooted:
                    inst.inventory.complete_reboot()
        reported = report(
            inst.instance_id,
            inst.patch_group,
            baseline,
            verdicts,
            inst.inventory,
            inv.snapshot_id,
            inv.operation,
            inv.end,
        )
        delay = self._behaviour.report_delay_minutes_by_id.get(inst.instance_id, 0.0)
        if delay > 0:  # the agent uploads its report late: until then the old one is answered
            inv.pending_report = reported
            self._events_push(inv.end + dt.timedelta(minutes=delay), "report", inv)
        else:
            self._reported[inst.instance_id] = reported

    def command_progress(self, command_ids: Sequence[str]) -> dict[str, CommandProgress]:
        """As the adapter polls: one ListCommands (ExecutionStage Executing, invoked since the
        oldest asked-for command) paged by 50 over every such command of the account; those
        no longer executing are left out."""
        with self._lock:
            now = self._advance()
            # from when each was sent, as the adapter remembers it (before the call's own wait)
            known = [
                info.asked or info.requested
                for info in (self._command_info.get(c) for c in command_ids)
                if info is not None
            ]
            since = (min(known) if known else now) - COMMANDS_SINCE_MARGIN
            wanted = set(command_ids)
            found: dict[str, CommandProgress] = {}
            cursor: int | None = 0
            while cursor is not None:  # each page answered at its own moment, as on AWS
                self._call("ListCommands")
                now = self._advance()

                def matches(info: SimCommand, now: dt.datetime = now) -> bool:
                    return (
                        info.document == PATCH_DOCUMENT
                        and info.requested >= since
                        and self.is_executing(info.command_id, now)
                    )

                page, cursor = self.commands_page(matches, cursor, 50, since, now)
                found.update({c: self.progress_of(c, now) for c in page if c in wanted})
            return found

    def list_invocations(self, command_id: str) -> list[Invocation]:
        with self._lock:
            invocations = self._commands.get(command_id, [])
            found: list[Invocation] = []
            for start in range(0, max(1, len(invocations)), 50):  # a page, its own moment
                self._call("ListCommandInvocations")
                now = self._advance()
                found.extend(
                    Invocation(command_id, inv.instance_id, *inv.status_at(now))
                    for inv in invocations[start : start + 50]
                )
            return found

    def cancel_command(self, command_id: str, instance_ids: Sequence[str]) -> None:
        with self._lock:
            self._call("CancelCommand", len(chunks(instance_ids)))
            now = self._advance()
            self.cancel(command_id, instance_ids, now)

    def cancel(self, command_id: str, instance_ids: Sequence[str], now: dt.datetime) -> None:
        wanted = set(instance_ids)
        for inv in self._commands.get(command_id, []):
            if inv.instance_id in wanted and inv.status_at(now)[0] in ("Pending", "InProgress"):
                self.touched.add(inv.instance_id)
                inv.cancelled_at = now
                inst = self._instances[inv.instance_id]
                inst.busy_forever, inst.busy_until = False, now
        self.save()

    def patch_states(self, instance_ids: Sequence[str]) -> dict[str, InstancePatchState]:
        with self._lock:
            found: dict[str, InstancePatchState] = {}
            for chunk in chunks(instance_ids):
                self._call("DescribeInstancePatchStates")
                self._advance()
                found.update({i: self._reported[i][0] for i in chunk if i in self._reported})
            return found

    def compliance(self, instance_ids: Sequence[str]) -> dict[str, ComplianceSummary]:
        """As the adapter reads it: every Patch compliance summary of the account, 50 a page."""
        with self._lock:
            self._advance()
            reported = self.reported()
            self._call("ListResourceComplianceSummaries", max(1, math.ceil(len(reported) / 50)))
            return {i: reported[i][1] for i in instance_ids if i in reported}

    def ping_info(self, instance_ids: Sequence[str]) -> dict[str, PingInfo]:
        with self._lock:
            found: dict[str, PingInfo] = {}
            for chunk in chunks(instance_ids):
                self._call("DescribeInstanceInformation")
                found.update(self.ping_infos(chunk, self._advance()))
            return found

    def ping_status(self, instance_ids: Sequence[str]) -> dict[str, str]:
        """PingStatus alone (tests); absent nodes read ConnectionLost."""
        info = self.ping_info(instance_ids)
        return {i: info[i].status if i in info else "ConnectionLost" for i in instance_ids}

    def reboot(self, instance_ids: Sequence[str]) -> None:
        """EC2 instances through RebootInstances (50 ids a call; a terminated id refuses the
        call); on-premises nodes through one SendCommand each (the adapter's exit-194 script)."""
        with self._lock:
            now = self._advance()
            ec2_ids = [i for i in instance_ids if i.startswith("i-")]
            done: list[str] = []
            for chunk in chunks(ec2_ids):
                self._call("RebootInstances")
                now = self._advance()
                unknown = self.unknown(chunk, now)
                if unknown:
                    raise InstancesNotFound(
                        "RebootInstances",
                        "InvalidInstanceID.NotFound: an instance id does not exist",
                        unknown,
                        done,
                    )
                self.reboot_now(chunk, now)
                done.extend(chunk)
            for instance_id in (i for i in instance_ids if not i.startswith("i-")):
                self._call("SendCommand")
                now = self._advance()
                if self.unknown([instance_id], now):
                    raise InstancesNotFound("SendCommand", "InvalidInstanceId", [instance_id], done)
                self.reboot_now([instance_id], now)
                done.append(instance_id)

    def reboot_now(self, instance_ids: Sequence[str], now: dt.datetime) -> None:
        """A reboot request: the node goes down after its shutdown (EC2 forces it at 4
        minutes) and comes back after the reboot's duration."""
        seed, behaviour = self.spec.seed, self._behaviour
        shutdown = min(dt.timedelta(seconds=behaviour.shutdown_seconds), HARD_REBOOT_AFTER)
        for instance_id in instance_ids:
            inst = self._instances[instance_id]
            self.touched.add(instance_id)
            if inst.busy_at(now):
                self.overlaps.append((instance_id, now))
            inst.reboots += 1
            self.reboots.append((instance_id, now))
            hang = instance_id in behaviour.reboot_hang_ids or draws.chance(
                seed, behaviour.reboot_hang_rate, instance_id, "hang-controlled", inst.reboots
            )
            if hang:
                inst.go_down(now, None)
                self.downtimes.append((instance_id, now, None))
                inst.busy_until = None
                continue
            took = draws.lognormal_seconds(
                seed, behaviour.reboot_minutes, instance_id, "creboot", inst.reboots
            )
            inst.go_down(now, now + shutdown + dt.timedelta(seconds=took))
            self.downtimes.append((instance_id, now, inst.offline_until))
            inst.busy_until = inst.offline_until
            inst.inventory.complete_reboot()
        self.save()

    def health(self, instance_ids: Sequence[str]) -> dict[str, str | None]:
        """One health check a call, as the adapter's target-group check is (one
        DescribeTargetHealth for the account's one target group, whatever the ids)."""
        with self._lock:
            self._call("HealthCheck")
            return self.health_of(instance_ids)

    def health_of(self, instance_ids: Sequence[str]) -> dict[str, str | None]:
        seed, behaviour = self.spec.seed, self._behaviour
        result: dict[str, str | None] = {}
        for instance_id in instance_ids:
            bad = instance_id in behaviour.health_failure_ids or draws.chance(
                seed, behaviour.health_failure_rate, instance_id, "health"
            )
            result[instance_id] = "health check failed: service not responding" if bad else None
        return result

    def resolve_patches(self, names: Sequence[str]) -> list[ResolvedPatch]:
        with self._lock:
            found, calls = patches.resolve(names)
            self._call("DescribeAvailablePatches", calls)
            return found

    def instance_patches(
        self, instance_ids: Sequence[str], install_ids: Sequence[str] | None = None
    ) -> dict[str, list[InstancePatch]]:
        """DescribeInstancePatches: one call an instance (``sim/patch_details.py``)."""
        with self._lock:
            self._call("DescribeInstancePatches", len(instance_ids))
            return self.instance_patches_of(instance_ids, install_ids, self._advance())

    def instance_patches_of(
        self, instance_ids: Sequence[str], install_ids: Sequence[str] | None, now: dt.datetime
    ) -> dict[str, list[InstancePatch]]:
        """The same answer, uncharged (the emulator charges its own requests; tests' evidence)."""
        return describe_patches(self, instance_ids, now, install_ids)

    def api_calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    # ----------------------------------------------------------------- gates (patchwave/sim/gates.py)
    def alarm_states(self, names: Sequence[str]) -> dict[str, str]:
        with self._lock:
            self._call("DescribeAlarms", max(1, math.ceil(len(names) / 100)))
            return self.alarm_states_at(names, self._advance())

    def alarm_states_at(
        self, names: Sequence[str], now: dt.datetime, composite: bool = True
    ) -> dict[str, str]:
        """Uncharged (the emulator charges its own requests); composite alarms only if asked."""
        minutes = (now - self.spec.start).total_seconds() / 60
        alarms = self._behaviour.alarms
        known = [n for n in names if n in alarms and (composite or not alarms[n].composite)]
        return {n: alarms[n].state_at(minutes) for n in known}

    def calendar_states(self, names: Sequence[str], at: dt.datetime) -> dict[str, str]:
        with self._lock:
            self._call("GetCalendarState", len(names))
            calendars = self._behaviour.calendars
            return {n: calendars[n].state_at(at)[0] for n in names if n in calendars}

    def _watch_alarm(self, command_id: str, alarm: str, now: dt.datetime) -> None:
        """AlarmConfiguration: the command is stopped the moment its alarm is in ALARM."""
        spec = self._behaviour.alarms.get(alarm) if alarm else None
        if spec is None:
            return
        at = spec.next_alarm((now - self.spec.start).total_seconds() / 60)
        if at is not None:
            self._events_push(max(now, self.spec.start + dt.timedelta(minutes=at)), "alarm", command_id)

    # ----------------------------------------------------------------- persistence
    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        if "_index" not in state:  # a state file from before the index: rebuild it
            self._index = CommandIndex()
            for command_id, info in self._command_info.items():
                self._index.add(info, self._commands[command_id])

    def save(self) -> None:
        """Write the whole simulation (clock included) to the spec's state file, atomically."""
        if not self.spec.state_file:
            return
        path = Path(self.spec.state_file)
        state_file.claim(path)  # one writer at a time
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(pickle.dumps(self))
        os.replace(tmp, path)

    @staticmethod
    def load(path: Path) -> SimulatedFleet:
        fleet = pickle.loads(path.read_bytes())  # noqa: S301 - our own state file
        assert isinstance(fleet, SimulatedFleet)
        return fleet

    # ----------------------------------------------------------------- for tests and benchmarks
    def instance(self, instance_id: str) -> SimInstance:
        """An instance's simulated state as of now (for tests and benchmarks)."""
        with self._lock:
            self._advance()
            return self._instances[instance_id]

    def first_install_sent(self, instance_id: str) -> dt.datetime:
        """When the first Install reached this instance (plan order for the benchmark)."""
        return self._first_install.get(instance_id, dt.datetime.max.replace(tzinfo=dt.UTC))

    def invocations(self) -> list[SimInvocation]:
        return [inv for invs in self._commands.values() for inv in invs]

    def invocations_on(self, instance_ids: Sequence[str]) -> list[SimInvocation]:
        """The invocations sent to these instances, in the order sent (through the index)."""
        return [inv for iid in dict.fromkeys(instance_ids) for inv in self._index.by_instance.get(iid, [])]

    # ----------------------------------------------------------------- snapshot and rollback (issue 16)
    @property
    def ebs(self) -> SimEbs:
        """Volumes, snapshots and replace-root-volume tasks (created on first use, so a state
        file written before they existed still loads)."""
        found = self.__dict__.get("_ebs")
        if found is None:
            found = self.__dict__["_ebs"] = SimEbs()
        return found

    def at(self, when: dt.datetime, effect: Callable[[], None]) -> None:
        """Apply ``effect`` when simulated time reaches ``when`` (picklable callables only)."""
        self._events_push(when, "call", effect)

    def create_snapshots(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> SnapshotsStarted:
        """As the adapter does it: DescribeInstances for the root volumes (200 ids a call), then
        one CreateSnapshots per instance."""
        with self._lock:
            ec2_ids = [i for i in instance_ids if i.startswith("i-")]  # on-premises: refused, no call
            self._call("DescribeInstances", math.ceil(len(ec2_ids) / EC2_IDS_PER_CALL))
            taken: dict[str, tuple[VolumeSnapshot, ...]] = {}
            refused: dict[str, str] = {}
            for instance_id in instance_ids:
                self._call("CreateSnapshots", 1 if instance_id in ec2_ids else 0)
                now = self._advance()
                try:
                    made = self.ebs.create(
                        self, instance_id, {**tags, "patchwave:instance-id": instance_id}, now
                    )
                except EbsRefused as exc:
                    refused[instance_id] = f"{exc.code}: {exc.message}"
                    continue
                taken[instance_id] = tuple(m.view(now) for m in made)
            self.save()
            return SnapshotsStarted(taken, refused)

    def snapshot_states(self, run_id: str, instance_ids: Sequence[str]) -> dict[str, list[VolumeSnapshot]]:
        with self._lock:
            found: dict[str, list[VolumeSnapshot]] = {}
            for chunk in chunks(instance_ids):
                self._call("DescribeSnapshots")
                now = self._advance()
                filters = {"tag:patchwave:run-id": [run_id], "tag:patchwave:instance-id": list(chunk)}
                for snapshot in self.ebs.describe(now, filters):
                    found.setdefault(snapshot.instance_id, []).append(snapshot)
            return found

    def tagged_snapshots(self) -> list[VolumeSnapshot]:
        with self._lock:
            self._call("DescribeSnapshots")
            return self.ebs.describe(self._advance(), {"tag-key": ["patchwave:delete-after"]})

    def delete_snapshot(self, snapshot_id: str) -> None:
        with self._lock:
            self._call("DeleteSnapshot")
            self._advance()
            self.ebs.delete(snapshot_id)
            self.save()

    def replace_root_volume(self, instance_id: str, snapshot_id: str, tags: Mapping[str, str]) -> str:
        with self._lock:
            self._call("CreateReplaceRootVolumeTask")
            now = self._advance()
            try:
                task = self.ebs.replace_root(self, instance_id, snapshot_id, tags, now)
            except EbsRefused as exc:
                raise RootVolumeRefused(f"{exc.code}: {exc.message}") from None
            self.save()
            return task.task_id

    def root_volume_tasks(self, task_ids: Sequence[str]) -> dict[str, RootVolumeTask]:
        with self._lock:
            found: dict[str, RootVolumeTask] = {}
            for chunk in chunks(task_ids):
                self._call("DescribeReplaceRootVolumeTasks")
                found.update({t.task_id: t for t in self.ebs.describe_tasks(self._advance(), chunk)})
            return found
