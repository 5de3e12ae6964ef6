"""Turning what a run saw into a ``RunRecord``: one observation per instance, with its patches.

Pure: the caller reads the fleet (patch states for when each instance last reported, the
per-patch details) and hands the answers in. An instance is observed at its last report's end
time, so a stale report (an offline instance) lands where it belongs on the timeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from patchwave.fleet import InstancePatchState, ManagedInstance
from patchwave.history.records import InstanceObservation, PatchObservation, RunRecord
from patchwave.reports.report import Report


def _observed(state: InstancePatchState | None, fallback: dt.datetime) -> dt.datetime:
    if state is None or state.operation_end_time is None:
        return fallback
    return state.operation_end_time


def window_record(
    report: Report,
    kind: str,
    states: Mapping[str, InstancePatchState],
    details: Mapping[str, Sequence[PatchObservation]],
) -> RunRecord:
    """A window, emergency or retry run: every planned instance with its outcome."""
    instances = tuple(
        InstanceObservation(
            instance_id=i.instance_id,
            observed_at=_observed(states.get(i.instance_id), report.finished_at),
            platform=i.platform,
            patch_group=i.patch_group,
            baseline=i.baseline or getattr(states.get(i.instance_id), "baseline_id", ""),
            outcome=i.outcome.value,
            patches=tuple(details.get(i.instance_id, ())),
        )
        for i in report.instances
    )
    return RunRecord(
        run_id=report.run_id,
        kind=kind,
        name=report.window,
        started_at=report.started_at,
        finished_at=report.finished_at,
        status=report.status,
        instances=instances,
        before=report.compliance.before.model_dump(mode="json"),
        after=report.compliance.after.model_dump(mode="json") if report.compliance.after else {},
    )


def scan_record(
    run_id: str,
    name: str,
    started: dt.datetime,
    finished: dt.datetime,
    instances: Sequence[ManagedInstance],
    states: Mapping[str, InstancePatchState],
    details: Mapping[str, Sequence[PatchObservation]],
    *,
    kind: str = "scan",
    after: Mapping[str, object] | None = None,
) -> RunRecord:
    """A scan (or an import): every instance that has a report."""
    observed = tuple(
        InstanceObservation(
            instance_id=inst.instance_id,
            observed_at=_observed(states.get(inst.instance_id), finished),
            platform=inst.platform,
            patch_group=inst.patch_group or "",
            baseline=states[inst.instance_id].baseline_id,
            patches=tuple(details.get(inst.instance_id, ())),
        )
        for inst in instances
        if inst.instance_id in states
    )
    return RunRecord(
        run_id=run_id,
        kind=kind,
        name=name,
        started_at=started,
        finished_at=finished,
        status="imported" if kind == "import" else "scanned",
        imported=kind == "import",
        instances=observed,
        after=dict(after or {}),
    )
