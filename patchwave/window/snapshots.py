"""Snapshots before install: the wave runner's optional stage between queued and installing.

    queued -> snapshotting -> installing ...        (snapshot failed: failed_install, no install)

When a window says ``snapshot: {enabled: true}``, each batch the runner starts is first
snapshotted (CreateSnapshots, one call per instance: the API takes one instance), and an
instance is sent AWS-RunPatchBaseline only once every one of its snapshots reads ``completed``
(DescribeSnapshots, filtered by this run's tag, 50 instances a call, one look per batch every
``SNAPSHOT_POLL``). A snapshot in ``error``, refused, or not completed within the window's
snapshot timeout means no install there: the instance's outcome is failed_install with status
details ``SnapshotFailed`` and it counts toward max_errors (a patch without its way back is
exactly what the operator asked not to run). Snapshotting instances hold their concurrency slot,
so a wave never has more instances in flight than its max_concurrency.

Every snapshot is tagged with the run id, the instance id, the window and a delete-after date
(``retention_days`` on), and written to the run's ledger (kind ``snapshots``) before the runner
waits on it: a resumed run adopts them instead of snapshotting twice, and rollback finds the
root volume's snapshot in the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from patchwave.clock import Clock
from patchwave.config.snapshots import SnapshotSettings
from patchwave.fleet import Fleet, VolumeSnapshot

TAG_RUN = "patchwave:run-id"
TAG_INSTANCE = "patchwave:instance-id"
TAG_WINDOW = "patchwave:window"
TAG_DELETE_AFTER = "patchwave:delete-after"
SNAPSHOT_POLL = dt.timedelta(seconds=30)
FAILED_DETAILS = "SnapshotFailed"


@dataclass(frozen=True)
class SnapshotPolicy:
    """What a window asks of snapshots (``config.snapshots.SnapshotSettings``, resolved)."""

    window: str
    retention_days: int = 7
    timeout: dt.timedelta = dt.timedelta(minutes=60)


def policy_for(window: str, settings: SnapshotSettings) -> SnapshotPolicy | None:
    """The runner's policy for a window's ``snapshot`` setting (None: no snapshots)."""
    if not settings.enabled:
        return None
    return SnapshotPolicy(window, settings.retention_days, dt.timedelta(minutes=settings.timeout_minutes))


def snapshot_tags(run_id: str, policy: SnapshotPolicy, now: dt.datetime) -> dict[str, str]:
    """The tags every snapshot of a run carries (the instance id is added per instance)."""
    delete_after = (now + dt.timedelta(days=policy.retention_days)).date().isoformat()
    return {TAG_RUN: run_id, TAG_WINDOW: policy.window, TAG_DELETE_AFTER: delete_after}


def root_first(snapshots: Sequence[VolumeSnapshot]) -> tuple[str, ...]:
    """Snapshot ids with the root volume's first: what reports carry, what rollback restores."""
    return tuple(s.snapshot_id for s in sorted(snapshots, key=lambda s: not s.root))


class SnapshotStage:
    def __init__(
        self,
        fleet: Fleet,
        clock: Clock,
        policy: SnapshotPolicy,
        run_id: str,
        wave: str,
        record: Callable[..., None],
        resume: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.fleet, self.clock, self.policy = fleet, clock, policy
        self.run_id, self.wave, self.record = run_id, wave, record
        self.pending: dict[str, dt.datetime] = {}  # instance -> when its snapshots started
        self.taken: dict[str, tuple[VolumeSnapshot, ...]] = {}
        self.ready: list[str] = []
        self.failed: dict[str, str] = {}
        self.next_check: dt.datetime | None = None
        self.adopted: dict[str, tuple[dt.datetime, tuple[VolumeSnapshot, ...]]] = {}
        for entry in resume:
            if entry.get("kind") != "snapshots":
                continue
            at = dt.datetime.fromisoformat(entry["at"]) if isinstance(entry["at"], str) else entry["at"]
            for iid, snaps in entry["instances"].items():
                self.adopted[iid] = (
                    at,
                    tuple(
                        VolumeSnapshot(s["snapshot_id"], iid, s["volume_id"], s["root"], "pending")
                        for s in snaps
                    ),
                )

    @property
    def in_flight(self) -> int:
        """Instances holding a slot here: snapshotting, or snapshotted and not yet sent."""
        return len(self.pending) + len(self.ready)

    def snapshot_ids(self, instance_id: str) -> tuple[str, ...]:
        return root_first(self.taken.get(instance_id, ()))

    def start(self, instance_ids: Sequence[str]) -> None:
        """Snapshot a batch (or adopt what a run that died had started for it)."""
        now = self.clock.now()
        fresh = [iid for iid in instance_ids if iid not in self.adopted]
        for iid in (i for i in instance_ids if i in self.adopted):
            self.pending[iid], self.taken[iid] = self.adopted.pop(iid)
        if fresh:
            started = self.fleet.create_snapshots(fresh, snapshot_tags(self.run_id, self.policy, now))
            self.failed.update(
                {iid: f"pre-patch snapshot refused: {why}" for iid, why in started.refused.items()}
            )
            for iid, snaps in started.snapshots.items():
                self.pending[iid], self.taken[iid] = now, tuple(snaps)
            self.record(
                "snapshots",
                wave=self.wave,
                at=now,
                instances={
                    iid: [
                        {"snapshot_id": s.snapshot_id, "volume_id": s.volume_id, "root": s.root}
                        for s in snaps
                    ]
                    for iid, snaps in started.snapshots.items()
                },
            )
        if self.pending and self.next_check is None:
            self.next_check = now + SNAPSHOT_POLL

    def poll(self) -> None:
        """One look (when due) at every snapshotting instance's snapshots."""
        now = self.clock.now()
        if not self.pending or self.next_check is None or now < self.next_check:
            return
        states = self.fleet.snapshot_states(self.run_id, list(self.pending))
        for iid, since in list(self.pending.items()):
            seen = {s.snapshot_id: s for s in states.get(iid, [])}
            mine = [seen.get(s.snapshot_id) for s in self.taken[iid]]
            broken = [s for s in mine if s is not None and s.state == "error"]
            if broken:
                why = "; ".join(f"{s.snapshot_id} ({s.volume_id}) {s.message or 'error'}" for s in broken)
                self._fail(iid, f"pre-patch snapshot failed: {why}; not installed")
            elif all(s is not None and s.state == "completed" for s in mine):
                del self.pending[iid]  # (taken keeps what CreateSnapshots said: which is root)
                self.ready.append(iid)
            elif now >= since + self.policy.timeout:
                self._fail(
                    iid, f"pre-patch snapshot not completed within {self.policy.timeout}; not installed"
                )
        self.next_check = now + SNAPSHOT_POLL if self.pending else None

    def _fail(self, instance_id: str, why: str) -> None:
        del self.pending[instance_id]
        self.failed[instance_id] = why

    def take_ready(self) -> list[str]:
        ready, self.ready = self.ready, []
        return ready

    def take_failed(self) -> dict[str, str]:
        failed, self.failed = self.failed, {}
        return failed


def expired(snapshots: Sequence[VolumeSnapshot], today: dt.date) -> list[VolumeSnapshot]:
    """The snapshots past their delete-after date (the day after it, in UTC). A tag that does
    not read as a date is never taken as expired: pruning deletes only what it can prove."""
    found: list[VolumeSnapshot] = []
    for snapshot in snapshots:
        try:
            after = dt.date.fromisoformat(snapshot.tags.get(TAG_DELETE_AFTER, ""))
        except ValueError:
            continue
        if today > after:
            found.append(snapshot)
    return found
