"""The report for people: Markdown (Prefect artifact, terminals) and a self-contained HTML page.

Every value that came from a fleet (tags, names, errors) is escaped: an instance's name is data,
never markup.
"""

from __future__ import annotations

import html
from typing import Any

from patchwave.config.baselines import COMPLIANCE_LEVELS
from patchwave.reports.report import InstanceReport, PatchesBeforeAfter, PatchLine, Report
from patchwave.reports.rollback_section import rollback_html, snapshot_markdown
from patchwave.window.outcomes import ERRORS, Outcome

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


_MD_SPECIAL = set("\\`*_{}[]<>#!|~")


def _md(text: object) -> str:
    """User and fleet text as literal Markdown: control characters dropped, markup escaped."""
    out = []
    for char in str(text):
        if char in "\r\n\t":
            out.append(" ")
        elif ord(char) < 32 or ord(char) == 127 or 0x80 <= ord(char) < 0xA0:
            continue
        elif char in _MD_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def summary(report: Report) -> str:
    return ", ".join(f"{k} {v}" for k, v in report.totals.items() if v)


def headline(report: Report) -> str:
    """One line that says how the window ended and why: the first line of every artifact."""
    line = f"window {report.window} {report.status}"
    if report.stop_reason:
        line += f": {report.stop_reason}"
    return f"{line} ({summary(report)})"


FAILURES_FIRST = {o: i for i, o in enumerate([*sorted(ERRORS), Outcome.NOT_ATTEMPTED, Outcome.CANCELLED])}


def failures_first(report: Report) -> list[InstanceReport]:
    """Errors first, then not attempted and cancelled, then the rest; by wave order inside."""
    order = {w.name: i for i, w in enumerate(report.waves)}
    return sorted(
        report.instances,
        key=lambda i: (
            FAILURES_FIRST.get(i.outcome, len(FAILURES_FIRST)),
            order.get(i.wave, 0),
            i.instance_id,
        ),
    )


def _patch_text(lines: list[PatchLine]) -> str:
    return "; ".join(f"{p.id} ({p.severity or '-'}, {p.classification or '-'}) {p.state}" for p in lines)


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


ARTIFACT_DRILL_ROWS = 50  # the Prefect artifact's drill-down: failures first, then "N more"


def patch_summary(patches: PatchesBeforeAfter) -> str:
    """'3 missing before: 2 installed, 1 failed' (what a collapsed row and the artifact show)."""
    counts: dict[str, int] = {}
    for line in patches.after:
        word = AFTER_WORDS.get(line.state, line.state.lower().replace("_", " "))
        counts[word] = counts.get(word, 0) + 1
    now = ", ".join(f"{n} {word}" for word, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"{len(patches.before)} missing before: {now}" if now else f"{len(patches.before)} missing before"


AFTER_WORDS = {
    "INSTALLED": "installed",
    "INSTALLED_OTHER": "installed",
    "INSTALLED_PENDING_REBOOT": "pending reboot",
    "MISSING": "still missing",
    "FAILED": "failed",
    "INSTALLED_REJECTED": "rejected",
}


def _compact_patches(patches: PatchesBeforeAfter) -> str:
    """The summary, and the ids of what is not installed after (at most five)."""
    left = [f"{p.id} {p.state}" for p in patches.after if p.state not in ("INSTALLED", "INSTALLED_OTHER")]
    more = f" (+{len(left) - 5})" if len(left) > 5 else ""
    return patch_summary(patches) + (f" — {'; '.join(left[:5])}{more}" if left else "")


def _drill_down(report: Report, compact: bool) -> list[str]:
    drill = [i for i in failures_first(report) if i.patches and (i.patches.before or i.patches.after)]
    if not drill:
        return []
    if compact:
        lines = ["", "## Patches by instance", "", "| instance | outcome | patches |", "| --- | --- | --- |"]
        for item in drill[:ARTIFACT_DRILL_ROWS]:
            assert item.patches is not None
            lines.append(
                f"| {_md(item.instance_id)} | {item.outcome.value} | {_md(_compact_patches(item.patches))} |"
            )
        if len(drill) > ARTIFACT_DRILL_ROWS:
            lines.append(f"\n{len(drill) - ARTIFACT_DRILL_ROWS} more instance(s): see the report file.")
        return lines
    lines = [
        "",
        "## Patches by instance (missing or failed before; the same patches after)",
        "",
        "| instance | outcome | before | after |",
        "| --- | --- | --- | --- |",
    ]
    for item in drill:
        assert item.patches is not None
        lines.append(
            f"| {_md(item.instance_id)} | {item.outcome.value} | {_md(_patch_text(item.patches.before))} | "
            f"{_md(_patch_text(item.patches.after))} |"
        )
    return lines


def to_markdown(report: Report, compact: bool = False) -> str:
    """The report in Markdown; ``compact`` (the Prefect artifact) keeps the patch drill-down to
    one line per instance, failures first, at most ARTIFACT_DRILL_ROWS instances."""
    lines = [
        f"# {_md(headline(report))}",
        "",
        f"- run `{report.run_id}` on {_md(report.fleet)}",
        f"- {report.operation}, reboot {report.reboot}, snapshot `{report.snapshot_id}`",
        f"- {report.started_at:%Y-%m-%d %H:%M:%S} to {report.finished_at:%H:%M:%S} UTC",
    ]
    if report.reason:
        lines.append(f"- reason: {_md(report.reason)}")
    if report.freeze_override:
        lines.append(f"- freeze overridden: {_md(report.freeze_override)}")
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
    ordered = failures_first(report)  # sorted once: each instance's place in it is its rank
    problems = [i for i in ordered if i.outcome not in (Outcome.PATCHED, Outcome.ALREADY_COMPLIANT)]
    if problems:
        lines += [
            "",
            "## Instances not patched",
            "",
            "| instance | wave | outcome | detail | command | output |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for item in problems:
            detail = item.error or item.status_details
            where = ", ".join(f"{k}: {v}" for k, v in item.output.items())
            lines.append(
                f"| {_md(item.instance_id)} | {_md(item.wave)} | {item.outcome.value} | {_md(detail)} | "
                f"{_md(item.command_id)} | {_md(where)} |"
            )
    lines += _drill_down(report, compact)
    lines += snapshot_markdown(
        [(i.instance_id, i.snapshots) for i in report.instances], report.rollbacks, _md
    )
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


# Filters by outcome and wave, offline: inline, no library; without script every row shows.
FILTER_JS = """
(function(){
  var o=document.getElementById('f-outcome'), w=document.getElementById('f-wave');
  var rows=document.querySelectorAll('#instances tbody tr'), n=document.getElementById('f-count');
  function apply(){
    var shown=0;
    rows.forEach(function(r){
      var ok=(!o.value||r.dataset.outcome===o.value)&&(!w.value||r.dataset.wave===w.value);
      r.style.display=ok?'':'none'; if(ok){shown++;}
    });
    n.textContent=shown+' of '+rows.length+' instances';
  }
  o.addEventListener('change',apply); w.addEventListener('change',apply); apply();
})();
"""


def _patch_details(patches: PatchesBeforeAfter) -> str:
    """One instance's patches, collapsed: the summary shows, the list opens on a click."""
    e = html.escape
    after = {p.id: p for p in patches.after}
    rows = "".join(
        f"<tr><td>{e(p.id)}</td><td><small>{e(p.severity or '-')}, {e(p.classification or '-')}</small></td>"
        f"<td>{e(p.state)}</td><td>{e(after[p.id].state if p.id in after else '-')}</td></tr>"
        for p in patches.before
    )
    return (
        f"<details class='patches'><summary>{e(patch_summary(patches))}</summary>"
        f"<table><tr><th>patch</th><th>severity, classification</th><th>before</th><th>after</th></tr>"
        f"{rows}</table></details>"
    )


def _instance_row(item: InstanceReport, with_patches: bool) -> str:
    e = html.escape
    where = "".join(
        f"<span class='out'>{e(kind)}: "
        + (f"<a href='{e(value)}'>{e(value)}</a>" if value.startswith("https://") else e(value))
        + "</span>"
        for kind, value in item.output.items()
    )
    patches = _patch_details(item.patches) if item.patches and item.patches.before else ""
    return (
        f"<tr data-outcome='{e(item.outcome.value)}' data-wave='{e(item.wave)}'>"
        f"<td>{e(item.instance_id)}</td><td>{e(item.wave)}</td><td>{e(item.platform)}</td>"
        f"<td>{e(item.patch_group)}</td><td><span class='sw' style='background:{COLOURS[item.outcome]}'></span>"
        f"{e(item.outcome.value)}</td><td class='wrap'>{e(item.error or item.status_details)}</td>"
        f"<td>{e(item.command_id)}{where}</td>"
        + (f"<td class='wrap'>{patches}</td>" if with_patches else "")
        + "</tr>"
    )


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
    with_patches = any(i.patches for i in report.instances)  # columns only when the fleet gave them
    rows = "".join(_instance_row(i, with_patches) for i in failures_first(report))
    patch_heads = "<th>patches (missing before, after)</th>" if with_patches else ""
    outcomes = "".join(f"<option>{e(o)}</option>" for o, n in report.totals.items() if n)
    wave_names = "".join(f"<option>{e(w.name)}</option>" for w in report.waves)
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
td.wrap{{white-space:normal}} details.patches table{{margin:.3rem 0;width:auto}} details.patches td{{padding:.1rem .4rem}} .out{{font-size:.8rem;color:#424242;display:block}} .headline{{font-weight:bold}}
label{{margin-right:1rem}} .key{{margin-right:1rem;font-size:.85rem}} .st-halted,.st-cut_off,.st-aborted{{color:#c62828;font-weight:bold}}
</style></head><body>
<h1>Patch window {e(report.window)} <small>{e(report.status)}</small></h1>
<p class="headline">{e(headline(report))}</p>
<p>Run {e(report.run_id)} on {e(report.fleet)} · {e(report.operation)}, reboot {e(report.reboot)} ·
snapshot {e(report.snapshot_id)}<br>{report.started_at:%Y-%m-%d %H:%M:%S} to {report.finished_at:%H:%M:%S} UTC</p>
<p>{totals}</p>
<h2>Waves</h2><div>{legend}</div>
<table><tr><th>wave</th><th>selector</th><th>status</th><th>outcomes</th><th>errors / tolerated</th><th>concurrency (peak)</th></tr>{waves}</table>
<h2>Compliance by severity</h2><p>Instances with at least one non-compliant patch of each severity, before (red) and after (blue).</p>
<table><tr><th>severity</th><th>before</th><th>after</th></tr>{comp}</table>
<h2>Instances</h2>
<p>Failures first. <label>Outcome <select id="f-outcome"><option value="">all</option>{outcomes}</select></label>
<label>Wave <select id="f-wave"><option value="">all</option>{wave_names}</select></label>
<span id="f-count"></span></p>
<table id="instances"><thead><tr><th>instance</th><th>wave</th><th>platform</th><th>patch group</th><th>outcome</th>
<th>detail</th><th>command</th>{patch_heads}</tr></thead><tbody>{rows}</tbody></table>
{rollback_html(report.rollbacks)}
<script>{FILTER_JS}</script>
</body></html>
"""
