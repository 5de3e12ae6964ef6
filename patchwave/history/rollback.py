"""A rollback as history keeps it: a run of kind ``rollback`` whose instances carry the result
(``rolled_back`` or ``rollback_failed``), named after the window of the run it undid.

It records what was done, not where instances stand: their patch state is the last Scan's
until the next one, so compliance trends and window success rates leave rollbacks out."""

from __future__ import annotations

from patchwave.history.records import InstanceObservation, RunRecord
from patchwave.reports.report import Report
from patchwave.reports.rollback_section import RollbackSection

RESULTS = {"restored": "rolled_back", "failed": "rollback_failed"}


def rollback_record(report: Report, section: RollbackSection) -> RunRecord:
    by_id = {i.instance_id: i for i in report.instances}
    instances = tuple(
        InstanceObservation(
            instance_id=entry.instance_id,
            observed_at=entry.finished_at or section.finished_at,
            platform=by_id[entry.instance_id].platform if entry.instance_id in by_id else "",
            patch_group=by_id[entry.instance_id].patch_group if entry.instance_id in by_id else "",
            baseline=by_id[entry.instance_id].baseline if entry.instance_id in by_id else "",
            outcome=RESULTS.get(entry.result, entry.result),
        )
        for entry in section.entries
    )
    failed = any(e.result != "restored" for e in section.entries)
    return RunRecord(
        run_id=section.rollback_id,
        kind="rollback",
        name=report.window,
        started_at=section.started_at,
        finished_at=section.finished_at,
        status="failed" if failed else "restored",
        instances=instances,
        before={"rolled_back_run": report.run_id},
    )
