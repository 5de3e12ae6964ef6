"""EBS as the simulated fleet sees it: volumes, snapshots and replace-root-volume tasks.

What a real account does, and is modelled here rather than assumed kind:
- a snapshot is point-in-time when CreateSnapshots is called, but reads ``pending`` for minutes
  (heavy-tailed) and may end in ``error`` (a knob per instance or a rate);
- a replace-root-volume task takes minutes, reboots the instance (it is down, its agent stops
  pinging, then comes back), and the instance boots from a new root volume restored from the
  snapshot: its packages are those of the snapshot, i.e. its patch state reverts (the reported
  patch state stays stale until the next Scan, as on AWS); it may end ``failed`` (a knob);
- the snapshot must be of this instance's root volume lineage and ``completed``, else the task
  is refused (IncorrectState / InvalidParameterValue), as EC2 refuses it.

The fleet keeps one ``SimEbs``; the ports of both the simulator and the AWS emulator call it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from patchwave.fleet import RootVolumeTask, VolumeSnapshot
from patchwave.sim import draws

if TYPE_CHECKING:
    from patchwave.sim.fleet import SimulatedFleet

TASK_SHUTDOWN = dt.timedelta(seconds=30)  # the task stops the guest this long after it starts
TERMINAL_TASK_STATES = frozenset({"succeeded", "failed", "failed-detached"})


class EbsRefused(Exception):
    """EC2 refused the request: ``code`` as EC2 spells it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class SimSnapshot:
    snapshot_id: str
    instance_id: str
    volume_id: str
    root: bool
    started: dt.datetime
    done: dt.datetime
    fails: bool
    tags: dict[str, str]
    content: dict[str, str] = field(default_factory=dict)  # the root volume's packages, then

    def state_at(self, now: dt.datetime) -> str:
        if now < self.done:
            return "pending"
        return "error" if self.fails else "completed"

    def view(self, now: dt.datetime) -> VolumeSnapshot:
        state = self.state_at(now)
        message = "Snapshot creation failed (simulated)" if state == "error" else ""
        return VolumeSnapshot(
            self.snapshot_id, self.instance_id, self.volume_id, self.root, state, message, dict(self.tags)
        )


@dataclass
class SimTask:
    task_id: str
    instance_id: str
    snapshot_id: str
    started: dt.datetime
    done: dt.datetime
    fails: bool
    tags: dict[str, str]

    def state_at(self, now: dt.datetime) -> str:
        if now < self.started + TASK_SHUTDOWN:
            return "pending"
        if now < self.done:
            return "in-progress"
        return "failed" if self.fails else "succeeded"

    def view(self, now: dt.datetime) -> RootVolumeTask:
        return RootVolumeTask(self.task_id, self.instance_id, self.state_at(now), self.started)


@dataclass
class SimEbs:
    """Volumes, snapshots and tasks of one simulated account."""

    root_volume: dict[str, str] = field(default_factory=dict)  # instance -> its current root volume
    snapshots: dict[str, SimSnapshot] = field(default_factory=dict)
    tasks: dict[str, SimTask] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    restored: list[tuple[str, str, dt.datetime]] = field(default_factory=list)  # instance, snapshot, when
    counter: int = 0

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:017x}"

    def volumes(self, instance_id: str, count: int) -> list[tuple[str, bool]]:
        """The instance's volumes (id, is root): the root first."""
        root = self.root_volume.setdefault(
            instance_id, "vol-" + instance_id.split("-", 1)[1][:17].rjust(17, "0")
        )
        data = [
            f"vol-d{index}{instance_id.split('-', 1)[1][:15].rjust(15, '0')}" for index in range(1, count)
        ]
        return [(root, True), *((v, False) for v in data)]

    # ----------------------------------------------------------------- snapshots
    def create(
        self, fleet: SimulatedFleet, instance_id: str, tags: Mapping[str, str], now: dt.datetime
    ) -> list[SimSnapshot]:
        """CreateSnapshots of one instance: one snapshot per volume, point-in-time now."""
        if not instance_id.startswith("i-"):
            raise EbsRefused("OnPremises", "an on-premises node has no EBS volumes to snapshot")
        if fleet.unknown([instance_id], now):
            raise EbsRefused("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        behaviour, seed = fleet.spec.behaviour.ebs, fleet.spec.seed
        inst = fleet._instances[instance_id]  # noqa: SLF001 - the fleet's own records
        taken: list[SimSnapshot] = []
        for volume_id, root in self.volumes(instance_id, behaviour.volumes_per_instance):
            snapshot_id = self._next("snap")
            took = draws.lognormal_seconds(
                seed, behaviour.snapshot_minutes, instance_id, "snapshot", snapshot_id
            )
            fails = instance_id in behaviour.snapshot_failure_ids or draws.chance(
                seed, behaviour.snapshot_failure_rate, instance_id, "snapshot-fails", snapshot_id
            )
            snapshot = SimSnapshot(
                snapshot_id,
                instance_id,
                volume_id,
                root,
                now,
                now + dt.timedelta(seconds=took),
                fails,
                {**tags},
                dict(inst.inventory.present) if root else {},
            )
            self.snapshots[snapshot_id] = snapshot
            taken.append(snapshot)
        return taken

    def describe(
        self, now: dt.datetime, tag_filters: Mapping[str, Sequence[str]] = {}, ids: Sequence[str] = ()
    ) -> list[VolumeSnapshot]:
        """DescribeSnapshots (OwnerIds self): by snapshot ids and ``tag:KEY`` / ``tag-key`` filters."""
        if ids:
            missing = [i for i in ids if i not in self.snapshots]
            if missing:
                raise EbsRefused("InvalidSnapshot.NotFound", f"The snapshot '{missing[0]}' does not exist.")
        chosen = [self.snapshots[i] for i in ids] if ids else list(self.snapshots.values())
        for key, values in tag_filters.items():
            if key.startswith("tag:"):
                chosen = [s for s in chosen if s.tags.get(key[4:]) in values]
            elif key == "tag-key":
                chosen = [s for s in chosen if any(k in s.tags for k in values)]
        return [s.view(now) for s in chosen]

    def delete(self, snapshot_id: str) -> None:
        if snapshot_id not in self.snapshots:
            raise EbsRefused("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
        del self.snapshots[snapshot_id]
        self.deleted.append(snapshot_id)

    # ----------------------------------------------------------------- root volume replacement
    def replace_root(
        self,
        fleet: SimulatedFleet,
        instance_id: str,
        snapshot_id: str,
        tags: Mapping[str, str],
        now: dt.datetime,
    ) -> SimTask:
        if fleet.unknown([instance_id], now):
            raise EbsRefused("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        snapshot = self.snapshots.get(snapshot_id)
        if snapshot is None:
            raise EbsRefused("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")
        if snapshot.instance_id != instance_id or not snapshot.root:
            raise EbsRefused(
                "InvalidParameterValue",
                f"The snapshot '{snapshot_id}' does not belong to the root volume lineage of '{instance_id}'",
            )
        if snapshot.state_at(now) != "completed":
            raise EbsRefused("IncorrectState", f"The snapshot '{snapshot_id}' is not in the completed state")
        running = [
            t
            for t in self.tasks.values()
            if t.instance_id == instance_id and t.state_at(now) not in TERMINAL_TASK_STATES
        ]
        if running:
            raise EbsRefused(
                "IncorrectState", f"A replace root volume task is already in progress for '{instance_id}'"
            )
        behaviour, seed = fleet.spec.behaviour.ebs, fleet.spec.seed
        task_id = self._next("replacevol")
        took = draws.lognormal_seconds(
            seed, behaviour.root_replace_minutes, instance_id, "replace-root", task_id
        )
        done = now + TASK_SHUTDOWN + dt.timedelta(seconds=took)
        task = SimTask(
            task_id,
            instance_id,
            snapshot_id,
            now,
            done,
            instance_id in behaviour.root_replace_failure_ids,
            {**tags},
        )
        self.tasks[task_id] = task
        inst = fleet._instances[instance_id]  # noqa: SLF001
        fleet.touched.add(instance_id)
        if inst.busy_at(now):
            fleet.overlaps.append((instance_id, now))
        # the guest is stopped and started again on the new (or, failed, the old) root volume
        back = done + dt.timedelta(seconds=fleet.spec.behaviour.shutdown_seconds)
        inst.go_down(now + TASK_SHUTDOWN, back)
        fleet.downtimes.append((instance_id, now + TASK_SHUTDOWN, back))
        fleet.reboots.append((instance_id, now + TASK_SHUTDOWN))
        inst.busy_until = back
        fleet.at(done, functools.partial(self.finish, fleet, task_id))
        return task

    def finish(self, fleet: SimulatedFleet, task_id: str) -> None:
        """A task's end: a succeeded one leaves the instance on a volume restored from its
        snapshot (the packages it had then; a new root volume id)."""
        task = self.tasks[task_id]
        if task.fails:
            return
        snapshot = self.snapshots.get(task.snapshot_id)
        inst = fleet._instances[task.instance_id]  # noqa: SLF001
        if snapshot is not None:
            inst.inventory.present = dict(snapshot.content)
        self.root_volume[task.instance_id] = self._next("vol")
        self.restored.append((task.instance_id, task.snapshot_id, task.done))

    def describe_tasks(self, now: dt.datetime, task_ids: Sequence[str]) -> list[RootVolumeTask]:
        return [self.tasks[t].view(now) for t in task_ids if t in self.tasks]
