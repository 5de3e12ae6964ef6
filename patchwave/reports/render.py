"""The report for people: Markdown (Prefect artifact, terminals) and a self-contained HTML page.

Every value that came from a fleet (tags, names, errors) is escaped: an instance's name is data,
never markup.
"""

from __future__ import annotations

import html
from typing import Any

from patchwave.config.baselines import COMPLIANCE_LEVELS
from patchwave.window.outcomes import Outcome
from patchwave.reports.report import Report

COLOURS = {
    Outcome.PATCHED: "#2e7d32",
    Outcome.ALREADY_COMPLIANT: "#81c784",
    Outcome.SKIPPED_OFFLINE: "#9e9e9e",
    Outcome.FAILED_INSTALL: "#c62828",
    Outcome.TIMED_OUT: "#ef6c00",
    Outcome.FAILED_REBOOT: "#ad1457",
    Outcome.FAILED_VERIFICATION: "#6a1b9a",
    Outcome.NOT_ATTEMPTED: "#616161",
    Outcome.CANCELLED: "#455a64",
    Outcome.NOT_DELIVERED: "#8d6e63",
}


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def compliance_rows(report: Report) -> list[dict[str, Any]]:
    before = report.compliance.before
    after = report.compliance.after
    rows: list[dict[str, Any]] = []
    for level in COMPLIANCE_LEVELS:
        rows.append(
            {
                "severity": level,
                "instances_before": before.instances_by_severity.get(level, 0),
                "instances_after": after.instances_by_severity.get(level, 0) if after else None,
                "patches_before": before.patches_by_severity.get(level, 0),
                "patches_after": after.patches_by_severity.get(level, 0) if after else None,
            }
        )
    rows.append(
        {
            "severity": "COMPLIANT",
            "instances_before": before.compliant,
            "instances_after": after.compliant if after else None,
            "patches_before": None,
            "patches_after": None,
        }
    )
    return rows


def to_markdown(report: Report) -> str:
    lines = [
        f"# Patch window `{_md(report.window)}`: {report.status}",
        "",
        f"- run `{report.run_id}` on {_md(report.fleet)}",
        f"- {report.operation}, reboot {report.reboot}, snapshot `{report.snapshot_id}`",
        f"- {report.started_at:%Y-%m-%d %H:%M:%S} to {report.finished_at:%H:%M:%S} UTC",
    ]
    if report.reason:
        lines.append(f"- reason: {_md(report.reason)}")
    lines += ["", "## Outcomes", "", "| outcome | instances |", "| --- | ---: |"]
    lines += [f"| {name} | {count} |" for name, count in report.totals.items() if count]
    lines += [
        "",
        "## Waves",
        "",
        "| wave | selector | status | patched | errors / tolerated | concurrency (peak) |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for wave in report.waves:
        lines.append(
            f"| {_md(wave.name)} | {_md(wave.selector)} | {wave.status} | "
            f"{wave.counts.get('patched', 0)} | {wave.errors} / {wave.max_errors} | "
            f"{wave.max_concurrency} ({wave.peak_in_flight}) |"
        )
    lines += [
        "",
        "## Compliance by severity (instances with issues)",
        "",
        "| severity | before | after |",
        "| --- | ---: | ---: |",
    ]
    for row in compliance_rows(report):
        after = "-" if row["instances_after"] is None else row["instances_after"]
        lines.append(f"| {row['severity']} | {row['instances_before']} | {after} |")
    problems = [i for i in report.instances if i.outcome not in (Outcome.PATCHED, Outcome.ALREADY_COMPLIANT)]
    if problems:
        lines += [
            "",
            "## Instances not patched",
            "",
            "| instance | wave | outcome | detail |",
            "| --- | --- | --- | --- |",
        ]
        for item in problems:
            detail = item.error or item.status_details
            lines.append(f"| {item.instance_id} | {_md(item.wave)} | {item.outcome.value} | {_md(detail)} |")
    if report.warnings:
        lines += ["", "## Plan warnings", ""] + [f"- {_md(w)}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def _bar(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    parts = []
    for outcome in Outcome:
        count = counts.get(outcome.value, 0)
        if count:
            parts.append(
                f'<span class="seg" style="width:{100 * count / total:.2f}%;background:{COLOURS[outcome]}" '
                f'title="{outcome.value}: {count}"></span>'
            )
    return f'<div class="bar">{"".join(parts)}</div>'


def to_html(report: Report) -> str:
    e = html.escape
    waves = "".join(
        f"<tr><td>{e(w.name)}</td><td>{e(w.selector)}</td><td class='st-{e(w.status)}'>{e(w.status)}</td>"
        f"<td>{_bar(w.counts)}</td><td>{w.errors} / {w.max_errors}</td>"
        f"<td>{w.max_concurrency} ({w.peak_in_flight})</td></tr>"
        for w in report.waves
    )
    rows_ = compliance_rows(report)
    # one scale for both columns; bars use at most 80% of the cell so the number stays beside them
    largest = max(
        [1]
        + [int(r["instances_before"] or 0) for r in rows_]
        + [int(r["instances_after"] or 0) for r in rows_]
    )
    scale = largest / 0.8
    comp = ""
    for row in rows_:
        before = int(row["instances_before"] or 0)
        after = row["instances_after"]
        after_n = int(after or 0)
        comp += (
            f"<tr><td>{e(str(row['severity']))}</td>"
            f"<td><div class='hbar before' style='width:{100 * before / scale:.1f}%'></div>{before}</td>"
            f"<td><div class='hbar after' style='width:{100 * after_n / scale:.1f}%'></div>"
            f"{'-' if after is None else after_n}</td></tr>"
        )
    legend = "".join(
        f"<span class='key'><span class='sw' style='background:{c}'></span>{o.value}</span>"
        for o, c in COLOURS.items()
    )
    rows = "".join(
        f"<tr><td>{e(i.instance_id)}</td><td>{e(i.wave)}</td><td>{e(i.platform)}</td>"
        f"<td>{e(i.patch_group)}</td><td><span class='sw' style='background:{COLOURS[i.outcome]}'></span>"
        f"{e(i.outcome.value)}</td><td>{e(i.error or i.status_details)}</td></tr>"
        for i in report.instances
    )
    totals = " · ".join(f"{e(k)} {v}" for k, v in report.totals.items() if v)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>patchwave: {e(report.window)} {e(report.status)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#212121;max-width:1100px}}
h1 small{{font-weight:normal;color:#616161}} table{{border-collapse:collapse;width:100%;margin:1rem 0}}
td,th{{border-bottom:1px solid #e0e0e0;padding:.35rem .5rem;text-align:left;vertical-align:middle;white-space:nowrap}}
.bar{{display:flex;height:14px;min-width:220px;background:#eee;border-radius:3px;overflow:hidden}}
.seg{{display:block;height:100%}} .hbar{{display:inline-block;height:12px;margin-right:.4rem;vertical-align:middle}}
.before{{background:#e57373}} .after{{background:#64b5f6}} .sw{{display:inline-block;width:10px;height:10px;margin-right:4px}}
td:last-child{{white-space:normal}} .key{{margin-right:1rem;font-size:.85rem}} .st-halted,.st-cut_off,.st-aborted{{color:#c62828;font-weight:bold}}
</style></head><body>
<h1>Patch window {e(report.window)} <small>{e(report.status)}</small></h1>
<p>Run {e(report.run_id)} on {e(report.fleet)} · {e(report.operation)}, reboot {e(report.reboot)} ·
snapshot {e(report.snapshot_id)}<br>{report.started_at:%Y-%m-%d %H:%M:%S} to {report.finished_at:%H:%M:%S} UTC</p>
<p>{totals}</p>
<h2>Waves</h2><div>{legend}</div>
<table><tr><th>wave</th><th>selector</th><th>status</th><th>outcomes</th><th>errors / tolerated</th><th>concurrency (peak)</th></tr>{waves}</table>
<h2>Compliance by severity</h2><p>Instances with at least one non-compliant patch of each severity, before (red) and after (blue).</p>
<table><tr><th>severity</th><th>before</th><th>after</th></tr>{comp}</table>
<h2>Instances</h2>
<table><tr><th>instance</th><th>wave</th><th>platform</th><th>patch group</th><th>outcome</th><th>detail</th></tr>{rows}</table>
</body></html>
"""
