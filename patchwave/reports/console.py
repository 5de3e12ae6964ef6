"""Rich rendering for the CLI: compliance tables, plans, report summaries and live progress.

Every piece of user text (names, tags, reasons, paths, ids) passes through ``safe``: control
characters are dropped (no ANSI escape from a tag value reaches the terminal) and rich markup is
escaped (``[/bold]`` in a reason prints as written, never raises a MarkupError).
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from patchwave import events
from patchwave.baselines.evaluate import Verdict
from patchwave.compliance.summary import ComplianceReport
from patchwave.config.baselines import COMPLIANCE_LEVELS, Baseline
from patchwave.reports.report import Report
from patchwave.window.planning import Plan
from patchwave.window.runner import WaveProgress

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def strip_control(text: object) -> str:
    """User text without control characters (tabs and newlines become spaces)."""
    return _CONTROL.sub("", str(text).replace("\t", " ").replace("\n", " "))


def safe(text: object) -> str:
    """User text made harmless for a rich console: no control characters, markup escaped."""
    return escape(strip_control(text))


def compliance_table(title: str, report: ComplianceReport) -> Table:
    table = Table(title=title)
    table.add_column("severity")
    table.add_column("instances with issues", justify="right")
    table.add_column("non-compliant patches", justify="right")
    for level in COMPLIANCE_LEVELS:
        table.add_row(
            level,
            str(report.instances_by_severity.get(level, 0)),
            str(report.patches_by_severity.get(level, 0)),
        )
    table.add_section()
    table.add_row("compliant instances", str(report.compliant), "")
    table.add_row("non-compliant instances", str(report.non_compliant), "")
    table.add_row("unreported instances", str(report.unreported), "")
    return table


def patch_group_table(report: ComplianceReport) -> Table:
    table = Table(title="By patch group")
    for column in ("patch group", "compliant", "non-compliant", "unreported"):
        table.add_column(column, justify="left" if column == "patch group" else "right")
    for group, counts in report.by_patch_group.items():
        table.add_row(safe(group), str(counts.compliant), str(counts.non_compliant), str(counts.unreported))
    return table


def before_after_table(report: Report) -> Table:
    table = Table(title="Compliance by severity (instances with issues)")
    table.add_column("severity")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    before, after = report.compliance.before, report.compliance.after
    for level in COMPLIANCE_LEVELS:
        table.add_row(
            level,
            str(before.instances_by_severity.get(level, 0)),
            str(after.instances_by_severity.get(level, 0)) if after else "-",
        )
    table.add_row("compliant", str(before.compliant), str(after.compliant) if after else "-")
    return table


def waves_table(report: Report) -> Table:
    table = Table(title=f"Window {safe(report.window)}: {report.status}")
    for column in ("wave", "status", "outcomes", "errors / tolerated", "concurrency (peak)"):
        table.add_column(column)
    for wave in report.waves:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(wave.counts.items()))
        table.add_row(
            safe(wave.name),
            wave.status,
            outcomes,
            f"{wave.errors} / {wave.max_errors}",
            f"{wave.max_concurrency} ({wave.peak_in_flight})",
        )
    return table


def plan_table(plan: Plan) -> Table:
    table = Table(title=f"Plan for window {safe(plan.window)}")
    for column in (
        "wave",
        "instance",
        "platform",
        "patch group",
        "baseline",
        "action",
        "missing by severity",
    ):
        # ids and names are never cut: they are what an operator copies
        table.add_column(column, no_wrap=column in ("instance", "platform", "patch group", "baseline"))
    for wave in plan.waves:
        header = (
            f"{safe(wave.name)}\n[dim]{safe(wave.selector)}; concurrency {wave.max_concurrency}, "
            f"errors {wave.max_errors}[/dim]"
        )
        for index, member in enumerate(wave.members):
            missing = ", ".join(f"{safe(k.lower())} {v}" for k, v in member.missing_by_severity.items() if v)
            table.add_row(
                header if index == 0 else "",
                safe(member.instance_id),
                safe(member.platform),
                safe(member.patch_group or "-"),
                safe(member.baseline or "-"),
                "install" if member.preset is None else member.preset.value,
                missing or "-",
            )
        if not wave.members:
            table.add_row(header, "-", "", "", "", "", "")
        table.add_section()
    return table


def verdict_table(baseline: Baseline, verdicts: list[Verdict], on: str) -> Table:
    groups = ", ".join(safe(g) for g in baseline.patch_groups) or "-"
    table = Table(
        title=f"{safe(baseline.name)} ({baseline.operating_system}) on {safe(on)}; patch groups: {groups}"
        f"{'; default for its OS' if baseline.default_for_os else ''}"
    )
    for column in ("patch", "released", "classification / severity", "verdict", "compliance level", "why"):
        table.add_column(column)
    for verdict in verdicts:
        patch = verdict.patch
        kind = " / ".join(
            x for x in (patch.classification, patch.severity or patch.msrc_severity or patch.priority) if x
        )
        if verdict.rejected:
            word = "[red]rejected[/red]"
        elif verdict.approved:
            word = "[green]approved[/green]"
        else:
            word = "[dim]not approved[/dim]"
        table.add_row(
            safe(patch.id),
            str(patch.release_date),
            safe(kind),
            word,
            verdict.compliance_level if verdict.approved and not verdict.rejected else "-",
            safe(verdict.reason),
        )
    return table


class LiveProgress:
    """Subscribes to the event bus and draws a progress bar for the scan and for each wave."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}
        self.finished: list[events.Finished] = []
        self._unsubscribe = lambda: None

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        self._unsubscribe = events.subscribe(self.on_event)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._unsubscribe()
        self.progress.stop()

    def _task(self, key: str, description: str, total: int) -> TaskID:
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=total, detail="")
        return self.tasks[key]

    def on_event(self, event: object) -> None:
        if isinstance(event, events.Phase):
            if event.name != "wave":
                self.progress.console.print(f"[bold]{safe(event.name)}[/bold] {safe(event.detail)}")
        elif isinstance(event, events.ScanProgress):
            task = self._task("scan", "scan", event.total)
            self.progress.update(task, completed=event.done, total=event.total)
        elif isinstance(event, WaveProgress):
            task = self._task(f"wave:{event.wave}", f"wave {safe(event.wave)}", event.to_install)
            detail = f"in flight {event.in_flight}, errors {event.errors}" + (
                " [red]HALTED[/red]" if event.halted else ""
            )
            self.progress.update(
                task, completed=event.finished, total=max(event.to_install, 1), detail=detail
            )
        elif isinstance(event, events.Finished):
            self.finished.append(event)
