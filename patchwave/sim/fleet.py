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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchwave.baselines.catalog import builtin_catalog
from patchwave.baselines.evaluate import BaselineResolver, Verdict, evaluate
from patchwave.clock import Clock
from patchwave.config.baselines import Baseline, BaselinesFile
from patchwave.fleet import (
    CommandProgress,
    ComplianceSummary,
    InstancePatchState,
    Invocation,
    ManagedInstance,
    PatchCommand,
    chunks,
)
from patchwave.history.records import PatchObservation
from patchwave.sim import draws
from patchwave.sim.inventory import FAILED, INSTALLED, PENDING_REBOOT, Inventory, report
from patchwave.sim.patch_details import describe_patches
from patchwave.sim.spec import FleetSpec
from patchwave.sim.throttle import TokenBucket

EXECUTION_TIMEOUT = dt.timedelta(hours=2)  # AWS-RunPatchBaseline's execution timeout
UNDELIVERABLE_AFTER = dt.timedelta(seconds=30)


@dataclass
class SimInstance:
    instance_id: str
    platform: str
    tags: dict[str, str]
    ping_status: str
    state: str
    inventory: Inventory
    offline_from: dt.datetime | None = None
    offline_until: dt.datetime | None = None  # None with offline_from set: never comes back
    installs: int = 0
    reboots: int = 0
    busy_until: dt.datetime | None = None  # an operation (command or reboot) runs until then
    busy_forever: bool = False

    @property
    def patch_group(self) -> str:
        return self.tags.get("Patch Group", self.tags.get("PatchGroup", ""))

    def ping_at(self, now: dt.datetime) -> str:
        if self.state == "stopped":
            return "ConnectionLost"
        if (
            self.offline_from is not None
            and self.offline_from <= now
            and (self.offline_until is None or now < self.offline_until)
        ):
            return "ConnectionLost"
        return self.ping_status

    def busy_at(self, now: dt.datetime) -> bool:
        return self.busy_forever or (self.busy_until is not None and now < self.busy_until)


@dataclass
class SimInvocation:
    command_id: str
    instance_id: str
    operation: str
    snapshot_id: str
    started: dt.datetime
    end: dt.datetime | None  # None: never ends by itself (stuck agent, hung reboot)
    final_status: str
    final_details: str
    install: list[str] = field(default_factory=list)
    needs_reboot: bool = False
    reboot_option: str = "RebootIfNeeded"
    cancelled_at: dt.datetime | None = None
    applied: bool = False
    sent: dt.datetime | None = None

    def status_at(self, now: dt.datetime) -> tuple[str, str]:
        if self.cancelled_at is not None and self.cancelled_at <= now:
            return "Cancelled", "Cancelled"
        if now < self.started:
            return "Pending", "Pending"
        if self.end is None or now < self.end:
            return "InProgress", "InProgress"
        return self.final_status, self.final_details


class SimulatedFleet:
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
        self._events: list[tuple[dt.datetime, int, SimInvocation]] = []
        self._seq = itertools.count()
        self._snapshots: dict[str, dt.date] = {}
        self._verdicts: dict[tuple[str, dt.date], list[Verdict]] = {}
        self.touched: set[str] = set()
        self.sent: list[PatchCommand] = []
        self.overlaps: list[tuple[str, dt.datetime]] = []
        self.reboots: list[tuple[str, dt.datetime]] = []
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
        self._reported: dict[str, tuple[InstancePatchState, ComplianceSummary]] = {}
        # What the fleet reported at its last scan, a day before the simulation starts.
        last_scan = self.spec.start - dt.timedelta(days=1)
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

    def _advance(self) -> dt.datetime:
        """Apply every effect whose time has come; return now."""
        now = self.clock.now()
        while self._events and self._events[0][0] <= now:
            _, _, invocation = heapq.heappop(self._events)
            self._apply(invocation)
        return now

    def _schedule(self, when: dt.datetime, invocation: SimInvocation) -> None:
        heapq.heappush(self._events, (when, next(self._seq), invocation))

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

    # ----------------------------------------------------------------- the port
    def list_instances(self) -> list[ManagedInstance]:
        with self._lock:
            now = self._advance()
            self._call("DescribeInstanceInformation", math.ceil(len(self._instances) / 50))
            self._call("DescribeInstances", math.ceil(len(self._instances) / 1000))
            return [
                ManagedInstance(i.instance_id, i.platform, i.ping_at(now), i.state, dict(i.tags))
                for i in self._instances.values()
            ]

    def send_patch_command(self, command: PatchCommand) -> str:
        with self._lock:
            self._call("SendCommand")
            now = self._advance()
            command_id = f"{next(self._seq):08x}-sim0-4000-8000-{len(self._commands):012x}"
            self.sent.append(command)
            invocations = [self._start(command_id, command, iid, now) for iid in command.instance_ids]
            for invocation in invocations:
                invocation.sent = now
                if command.operation == "Install":
                    self._first_install.setdefault(invocation.instance_id, now)
            self._commands[command_id] = invocations
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
        self._schedule(end, inv)
        return inv

    def _start(
        self, command_id: str, command: PatchCommand, instance_id: str, now: dt.datetime
    ) -> SimInvocation:
        inst = self._instances.get(instance_id)
        self.touched.add(instance_id)
        if inst is None or inst.ping_status == "Inactive":
            return self._undelivered(
                command_id, command, instance_id, now + UNDELIVERABLE_AFTER, "Failed", "Undeliverable"
            )
        if inst.busy_at(now):
            self.overlaps.append((instance_id, now))
        seed, behaviour = self.spec.seed, self._behaviour
        if inst.ping_at(now) != "Online":
            end = now + dt.timedelta(seconds=command.timeout_seconds)
            return self._undelivered(command_id, command, instance_id, end, "TimedOut", "DeliveryTimedOut")
        started = now + dt.timedelta(seconds=behaviour.delivery_seconds)
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
            inst.offline_from = exec_end
            if hang:
                inst.offline_until = None
                inv.end = None
            else:
                reboot = draws.lognormal_seconds(
                    seed, behaviour.reboot_minutes, instance_id, "reboot", attempt
                )
                inst.offline_until = exec_end + dt.timedelta(seconds=reboot)
                inv.end = inst.offline_until
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
        self._reported[inst.instance_id] = report(
            inst.instance_id,
            inst.patch_group,
            baseline,
            verdicts,
            inst.inventory,
            inv.snapshot_id,
            inv.operation,
            inv.end,
        )

    def command_progress(self, command_ids: Sequence[str]) -> dict[str, CommandProgress]:
        with self._lock:
            self._call("ListCommands", max(1, math.ceil(len(command_ids) / 50)))
            now = self._advance()
            result: dict[str, CommandProgress] = {}
            for command_id in command_ids:
                invocations = self._commands.get(command_id)
                if invocations is None:
                    continue
                statuses = [inv.status_at(now)[0] for inv in invocations]
                done = [s for s in statuses if s in ("Success", "Failed", "TimedOut", "Cancelled")]
                errors = sum(
                    inv.status_at(now) in (("Failed", "Failed"), ("TimedOut", "ExecutionTimedOut"))
                    for inv in invocations
                )
                status = "InProgress" if len(done) < len(statuses) else "Success" if errors == 0 else "Failed"
                result[command_id] = CommandProgress(command_id, status, len(statuses), len(done), errors)
            return result

    def list_invocations(self, command_id: str) -> list[Invocation]:
        with self._lock:
            invocations = self._commands.get(command_id, [])
            self._call("ListCommandInvocations", max(1, math.ceil(len(invocations) / 50)))
            now = self._advance()
            return [Invocation(command_id, inv.instance_id, *inv.status_at(now)) for inv in invocations]

    def cancel_command(self, command_id: str, instance_ids: Sequence[str]) -> None:
        with self._lock:
            self._call("CancelCommand")
            now = self._advance()
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
            self._call("DescribeInstancePatchStates", len(chunks(instance_ids)))
            self._advance()
            return {i: self._reported[i][0] for i in instance_ids if i in self._reported}

    def compliance(self, instance_ids: Sequence[str]) -> dict[str, ComplianceSummary]:
        with self._lock:
            self._call("ListResourceComplianceSummaries", len(chunks(instance_ids)))
            self._advance()
            return {i: self._reported[i][1] for i in instance_ids if i in self._reported}

    def ping_status(self, instance_ids: Sequence[str]) -> dict[str, str]:
        with self._lock:
            self._call("DescribeInstanceInformation", len(chunks(instance_ids)))
            now = self._advance()
            return {i: self._instances[i].ping_at(now) for i in instance_ids if i in self._instances}

    def reboot(self, instance_ids: Sequence[str]) -> None:
        with self._lock:
            self._call("RebootInstances", len(chunks(instance_ids)))
            now = self._advance()
            seed, behaviour = self.spec.seed, self._behaviour
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
                inst.offline_from = now
                if hang:
                    inst.offline_until = None
                    inst.busy_until = None
                    continue
                took = draws.lognormal_seconds(
                    seed, behaviour.reboot_minutes, instance_id, "creboot", inst.reboots
                )
                inst.offline_until = now + dt.timedelta(seconds=took)
                inst.busy_until = inst.offline_until
                inst.inventory.complete_reboot()
            self.save()

    def health(self, instance_ids: Sequence[str]) -> dict[str, str | None]:
        with self._lock:
            self._call("HealthCheck", len(chunks(instance_ids)))
            seed, behaviour = self.spec.seed, self._behaviour
            result: dict[str, str | None] = {}
            for instance_id in instance_ids:
                bad = instance_id in behaviour.health_failure_ids or draws.chance(
                    seed, behaviour.health_failure_rate, instance_id, "health"
                )
                result[instance_id] = "health check failed: service not responding" if bad else None
            return result

    def api_calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def patch_details(self, instance_ids: Sequence[str]) -> dict[str, list[PatchObservation]]:
        """DescribeInstancePatches (one instance a call): history's per-patch view."""
        with self._lock:
            self._call("DescribeInstancePatches", len(instance_ids))
            return describe_patches(self, instance_ids, self._advance())

    # ----------------------------------------------------------------- persistence
    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def save(self) -> None:
        """Write the whole simulation (clock included) to the spec's state file, atomically."""
        if not self.spec.state_file:
            return
        path = Path(self.spec.state_file)
        path.parent.mkdir(parents=True, exist_ok=True)
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
