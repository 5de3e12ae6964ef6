"""The window report: one outcome per planned instance, per-wave counts, compliance before and
after, API calls. A versioned pydantic model (documented in docs/report-schema.md), written
atomically as JSON, Markdown and a self-contained HTML page.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from patchwave.compliance.summary import ComplianceReport
from patchwave.reports.rollback_section import RollbackSection
from patchwave.window.decisions import Decision
from patchwave.window.outcomes import ERRORS, Outcome
from patchwave.window.planning import Plan
from patchwave.window.runner import WaveResult

SCHEMA = "patchwave.reports.report/v1"


class WaveReport(BaseModel):
    name: str
    status: str = Field(description="completed | halted | cut_off | not_attempted | aborted")
    selector: str
    counts: dict[str, int]
    errors: int
    max_errors: int
    max_concurrency: int
    peak_in_flight: int
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    stop_reason: str = ""


class PatchLine(BaseModel):
    """One patch of one instance as DescribeInstancePatches reports it."""

    id: str = Field(description="KB id or package name")
    severity: str = ""
    classification: str = ""
    state: str = Field(description="MISSING | FAILED | INSTALLED | INSTALLED_PENDING_REBOOT | ...")


class PatchesBeforeAfter(BaseModel):
    """The patches of one instance that were missing or failed before the run, and how each
    stood after it (installed, still missing, failed)."""

    before: list[PatchLine] = Field(default_factory=list)
    after: list[PatchLine] = Field(default_factory=list)


class InstanceReport(BaseModel):
    instance_id: str
    wave: str
    outcome: Outcome
    platform: str = ""
    patch_group: str = ""
    baseline: str = ""
    command_id: str = ""
    status_details: str = ""
    error: str = ""
    output: dict[str, str] = Field(
        default_factory=dict,
        description="Where the install command's output is: s3 (key prefix), cloudwatch (log "
        "group/stream), console (link); empty on a simulated fleet without output settings.",
    )
    patches: PatchesBeforeAfter | None = None
    snapshots: list[str] = Field(
        default_factory=list, description="EBS snapshots taken before the install, the root volume's first."
    )


class ComplianceBeforeAfter(BaseModel):
    before: ComplianceReport
    after: ComplianceReport | None = None


class Report(BaseModel):
    schema_: str = Field(default=SCHEMA, alias="schema")
    window: str
    run_id: str
    status: str = Field(description="succeeded | succeeded_with_errors | halted | cut_off | aborted")
    reason: str = ""
    fleet: str
    operation: str
    reboot: str
    snapshot_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    warnings: list[str] = Field(default_factory=list)
    totals: dict[str, int]
    waves: list[WaveReport]
    instances: list[InstanceReport]
    compliance: ComplianceBeforeAfter
    api_calls: dict[str, int]
    decisions: list[Decision] = Field(default_factory=list, description="Approvals between waves.")
    retry_of: str = Field(default="", description="The run this one retries, if any.")
    window_config: dict[str, Any] = Field(default_factory=dict, description="The window as it ran.")
    attempt: int = Field(default=1, description="The flow run's attempt (Prefect Retry keeps the run id).")
    wall_started_at: dt.datetime | None = Field(
        default=None, description="When the run really started (wall clock, UTC): names its files."
    )
    stop_reason: str = Field(default="", description="Why the window stopped early, if it did.")
    freeze_override: str = Field(
        default="", description="An emergency run during a freeze: the freeze and the operator's reason."
    )
    rollbacks: list[RollbackSection] = Field(
        default_factory=list, description="What `patchwave rollback` restored after the run."
    )

    model_config = {"populate_by_name": True}

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


STOPPED = ("aborted", "halted", "cut_off")


def window_status(waves: list[WaveReport]) -> str:
    statuses = {w.status for w in waves}
    for decisive in STOPPED:
        if decisive in statuses:
            return decisive
    errors = sum(w.errors for w in waves)
    return "succeeded_with_errors" if errors else "succeeded"


def build_report(
    *,
    window: str,
    run_id: str,
    fleet: str,
    operation: str,
    reboot: str,
    snapshot_id: str,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    plan: Plan,
    results: list[WaveResult],
    before: ComplianceReport,
    after: ComplianceReport | None,
    api_calls: dict[str, int],
    reason: str = "",
    decisions: list[Decision] | None = None,
    retry_of: str = "",
    window_config: dict[str, Any] | None = None,
    attempt: int = 1,
    wall_started_at: dt.datetime | None = None,
    output: Callable[[str, str, str], dict[str, str]] | None = None,
    patches: Mapping[str, PatchesBeforeAfter] | None = None,
    freeze_override: str = "",
) -> Report:
    """``output(command_id, instance_id, platform)`` says where a command's output is; ``patches`` holds
    the per-instance patch drill-down (only instances with something to show)."""
    planned = {m.instance_id: m for m in plan.members}
    by_wave = {r.name: r for r in results}
    waves: list[WaveReport] = []
    instances: list[InstanceReport] = []
    for wave in plan.waves:
        result = by_wave[wave.name]
        waves.append(
            WaveReport(
                name=wave.name,
                status=result.status,
                selector=wave.selector,
                counts=result.counts,
                errors=result.errors,
                max_errors=result.max_errors,
                max_concurrency=result.max_concurrency,
                peak_in_flight=result.peak_in_flight,
                started_at=result.started_at,
                finished_at=result.finished_at,
                stop_reason=result.stop_reason,
            )
        )
        for item in result.results:
            member = planned[item.instance_id]
            instances.append(
                InstanceReport(
                    instance_id=item.instance_id,
                    wave=item.wave,
                    outcome=item.outcome,
                    platform=member.platform,
                    patch_group=member.patch_group,
                    baseline=member.baseline,
                    command_id=item.command_id,
                    status_details=item.status_details,
                    error=item.error,
                    output=output(item.command_id, item.instance_id, member.platform)
                    if output and item.command_id
                    else {},
                    patches=(patches or {}).get(item.instance_id),
                    snapshots=list(item.snapshots),
                )
            )
    totals = Counter(i.outcome.value for i in instances)
    return Report(
        window=window,
        run_id=run_id,
        status=window_status(waves),
        reason=reason,
        fleet=fleet,
        operation=operation,
        reboot=reboot,
        snapshot_id=snapshot_id,
        started_at=started_at,
        finished_at=finished_at,
        warnings=list(plan.warnings),
        totals={o.value: totals.get(o.value, 0) for o in Outcome},
        waves=waves,
        instances=instances,
        compliance=ComplianceBeforeAfter(before=before, after=after),
        api_calls=dict(sorted(api_calls.items())),
        decisions=decisions or [],
        retry_of=retry_of,
        window_config=window_config or {},
        attempt=attempt,
        wall_started_at=wall_started_at,
        freeze_override=freeze_override,
        stop_reason=next(
            (
                f"wave {w.name!r} {w.status}: {w.stop_reason}"
                for w in waves
                if w.status in STOPPED and w.stop_reason
            ),
            "",
        ),
    )


def error_count(report: Report) -> int:
    return sum(1 for i in report.instances if i.outcome in ERRORS)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_stem(report: Report) -> str:
    """One name per run and attempt, never reused: the window, the real (wall-clock) start and
    the run id. With a virtual clock every run of a window starts at the same simulated time,
    so the simulated start alone would make runs overwrite each other."""
    start = (report.wall_started_at or report.started_at).astimezone(dt.UTC)
    attempt = f"-attempt{report.attempt}" if report.attempt > 1 else ""
    return f"{report.window}-{start.strftime('%Y%m%dT%H%M%SZ')}-{report.run_id}{attempt}"
