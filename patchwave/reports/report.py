"""The window report: one outcome per planned instance, per-wave counts, compliance before and
after, API calls. A versioned pydantic model (documented in docs/report-schema.md), written
atomically as JSON, Markdown and a self-contained HTML page.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from patchwave.compliance.summary import ComplianceReport
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

    model_config = {"populate_by_name": True}

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


def window_status(waves: list[WaveReport]) -> str:
    statuses = {w.status for w in waves}
    for decisive in ("aborted", "halted", "cut_off"):
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
) -> Report:
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
    return f"{report.window}-{report.started_at.strftime('%Y%m%dT%H%M%SZ')}"
