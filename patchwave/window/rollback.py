"""Rollback: put instances of a run back on their pre-patch root volume, and prove they are back.

For each chosen instance: the root volume snapshot the run took before its install (the report's
``snapshots``, the root volume's first) is restored with EC2's replace-root-volume task
(CreateReplaceRootVolumeTask: the instance reboots onto a new root volume made from the
snapshot; its data volumes are left as they are). The rollback then waits, every
``ROLLBACK_POLL``, for the task to read ``succeeded`` (DescribeReplaceRootVolumeTasks, 50 tasks a
call), for proof the agent is back (a ping after the task succeeded, or seen ConnectionLost then
Online: PingStatus alone lags), and for the fleet's health check (the same one a wave's
verification uses). Every deadline ends in a result, so a rollback never waits forever.

Safety: only instances of the run, chosen before any fleet call; each under a lease of the
rollback's own id, so no window or other rollback operates on it at the same time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from patchwave.clock import Clock
from patchwave.errors import ConfigError
from patchwave.fleet import Fleet, RootVolumeRefused
from patchwave.reports.report import InstanceReport, Report
from patchwave.reports.rollback_section import RollbackEntry, RollbackSection
from patchwave.state.leases import Leases, MemoryLeases
from patchwave.state.ledger import RUN_ID
from patchwave.state.store import RunStore
from patchwave.window.outcomes import ERRORS
from patchwave.window.retry import find_report, load_report
from patchwave.window.snapshots import FAILED_DETAILS, TAG_RUN

ROLLBACK_POLL = dt.timedelta(seconds=15)
TASK_TIMEOUT = dt.timedelta(minutes=60)
BOOT_TIMEOUT = dt.timedelta(minutes=20)
TERMINAL = frozenset({"succeeded", "failed", "failed-detached"})
TAG_ROLLBACK = "patchwave:rollback-id"


def _restorable(item: InstanceReport) -> bool:
    """Patched or tried: it has a pre-patch snapshot and its snapshot did not fail (an
    instance whose snapshot failed was never installed: nothing to undo)."""
    return bool(item.snapshots) and item.status_details != FAILED_DETAILS


def choose(report: Report, asked: Sequence[str]) -> list[str]:
    """The instances to restore: those asked (each must be in the run and have a pre-patch
    snapshot), else those that failed in the run. Raises ConfigError (one line) otherwise."""
    by_id = {i.instance_id: i for i in report.instances}
    for instance_id in asked:
        item = by_id.get(instance_id)
        if item is None:
            raise ConfigError(
                "--instance", "instance", instance_id, f"not an instance of run {report.run_id}"
            )
        if not _restorable(item):
            why = "its snapshot failed (it was not installed)" if item.snapshots else "no pre-patch snapshot"
            raise ConfigError("--instance", "instance", instance_id, f"{why} in run {report.run_id}")
    if asked:
        return list(dict.fromkeys(asked))
    chosen = [i.instance_id for i in report.instances if i.outcome in ERRORS and _restorable(i)]
    if not chosen:
        raise ConfigError(
            "--run-id",
            "run id",
            report.run_id,
            "no failed instance with a pre-patch snapshot in that run (name instances with --instance)",
        )
    return chosen


def plan_rollback(
    store: RunStore, report_dir: str, run_id: str, instances: Sequence[str]
) -> tuple[Path, Report, list[str]]:
    """Everything checked before any fleet call: the run's report (from the shared store when
    there is one, else the report folder) and the instances to restore."""
    if not RUN_ID.match(run_id):
        raise ConfigError("--run-id", "run id", run_id, "expected a run id (letters, digits, '-', '_')")
    fetched = store.fetch_report(report_dir, run_id)
    path = fetched if fetched is not None else find_report(Path(report_dir), run_id)
    report = load_report(path)
    return path, report, choose(report, instances)


@dataclass
class _Restore:
    snapshot_id: str
    started: dt.datetime
    task_id: str = ""
    succeeded_at: dt.datetime | None = None
    seen_down: bool = False
    entry: RollbackEntry | None = None


@dataclass
class RollbackRun:
    fleet: Fleet
    clock: Clock
    rollback_id: str
    leases: Leases = field(default_factory=MemoryLeases)
    health_check: bool = True
    on_result: Callable[[RollbackEntry], None] = lambda entry: None

    def run(self, report: Report, instance_ids: Sequence[str]) -> RollbackSection:
        began = self.clock.now()
        snapshots = {i.instance_id: i.snapshots[0] for i in report.instances if i.snapshots}
        restores = {iid: _Restore(snapshots[iid], began) for iid in instance_ids}
        refused = self.leases.acquire(
            self.rollback_id, list(instance_ids), began, began + TASK_TIMEOUT + BOOT_TIMEOUT
        )
        for iid, holder in refused.items():
            self._end(restores[iid], iid, "failed", f"not restored: run {holder} is operating on it")
        tags = {TAG_RUN: report.run_id, TAG_ROLLBACK: self.rollback_id}
        for iid, restore in restores.items():
            if restore.entry is not None:
                continue
            try:
                restore.task_id = self.fleet.replace_root_volume(iid, restore.snapshot_id, tags)
                restore.started = self.clock.now()
            except RootVolumeRefused as exc:
                self._end(restore, iid, "failed", f"replace-root-volume task refused: {exc}")
        try:
            while any(r.entry is None for r in restores.values()):
                self.clock.sleep(ROLLBACK_POLL.total_seconds())
                self._observe(restores)
        finally:
            self.leases.release(self.rollback_id, [i for i in instance_ids if i not in refused])
        entries = [r.entry for r in restores.values() if r.entry is not None]
        return RollbackSection(
            rollback_id=self.rollback_id, started_at=began, finished_at=self.clock.now(), entries=entries
        )

    def _observe(self, restores: dict[str, _Restore]) -> None:
        now = self.clock.now()
        running = {
            r.task_id: iid for iid, r in restores.items() if r.entry is None and r.succeeded_at is None
        }
        tasks = self.fleet.root_volume_tasks(list(running)) if running else {}
        for task_id, iid in running.items():
            restore = restores[iid]
            task = tasks.get(task_id)
            state = task.state if task is not None else "unknown"
            if state == "succeeded":
                restore.succeeded_at = now
            elif state in TERMINAL:
                self._end(restore, iid, "failed", f"replace-root-volume task {task_id} ended {state}")
            elif now >= restore.started + TASK_TIMEOUT:
                self._end(restore, iid, "failed", f"task {task_id} still {state} after {TASK_TIMEOUT}")
        self._check_back(restores, now)

    def _check_back(self, restores: dict[str, _Restore], now: dt.datetime) -> None:
        """Back with proof (a ping after the task succeeded, or down then Online), then healthy."""
        booting = [iid for iid, r in restores.items() if r.entry is None and r.succeeded_at is not None]
        if not booting:
            return
        pings = self.fleet.ping_info(booting)
        back: list[str] = []
        for iid in booting:
            restore = restores[iid]
            assert restore.succeeded_at is not None
            info = pings.get(iid)
            if info is not None and info.status != "Online":
                restore.seen_down = True
            if (
                info is not None
                and info.status == "Online"
                and (
                    restore.seen_down
                    or (info.last_ping is not None and info.last_ping > restore.succeeded_at)
                )
            ):
                back.append(iid)
            elif now >= restore.succeeded_at + BOOT_TIMEOUT:
                status = info.status if info is not None else "not managed"
                self._end(
                    restore, iid, "failed", f"root volume replaced, but not back online (ping {status})"
                )
        health = self.fleet.health(back) if back and self.health_check else {}
        for iid in back:
            reason = health.get(iid)
            if reason:
                self._end(
                    restores[iid], iid, "failed", f"root volume replaced, back online, unhealthy: {reason}"
                )
            else:
                self._end(restores[iid], iid, "restored", "")

    def _end(self, restore: _Restore, instance_id: str, result: str, error: str) -> None:
        restore.entry = RollbackEntry(
            instance_id=instance_id,
            snapshot_id=restore.snapshot_id,
            task_id=restore.task_id,
            result=result,
            error=error,
            started_at=restore.started,
            finished_at=self.clock.now(),
        )
        self.on_result(restore.entry)
