"""Publishing a window's report: files (JSON, Markdown, HTML) and Prefect artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from patchwave.compliance.summary import ComplianceReport
from patchwave.config.baselines import COMPLIANCE_LEVELS
from patchwave.connect import FleetHandle
from patchwave.reports.render import compliance_rows, headline, to_html, to_markdown
from patchwave.reports.report import Report, report_stem, write_atomic
from tasks.artifacts import best_effort


def _key(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:100]


@task(name="publish-report", cache_policy=NO_CACHE, persist_result=False)
def publish_report(report: Report, report_dir: str, report_json: str | None = None) -> dict[str, str]:
    """Write the report files atomically and publish the table and markdown artifacts."""
    stem = report_stem(report)
    folder = Path(report_dir)
    paths = {
        "json": Path(report_json) if report_json else folder / f"{stem}.json",
        "markdown": folder / f"{stem}.md",
        "html": folder / f"{stem}.html",
    }
    write_atomic(paths["json"], report.to_json())
    write_atomic(paths["markdown"], to_markdown(report))
    write_atomic(paths["html"], to_html(report))
    first = headline(report)
    best_effort(
        create_table_artifact,
        table=compliance_rows(report),
        key=f"compliance-{_key(report.window)}",
        description=f"{first}. Compliance by severity before and after.",
        what="the compliance table",
    )
    best_effort(
        create_markdown_artifact,
        markdown=to_markdown(report, compact=True),
        key=f"report-{_key(report.window)}",
        description=first,
        what="the report artifact",
    )
    return {kind: str(path) for kind, path in paths.items()}


@task(name="publish-compliance", cache_policy=NO_CACHE, persist_result=False)
def publish_compliance(title: str, compliance: ComplianceReport) -> None:
    """Table and markdown artifacts of a scan's compliance by severity and patch group."""
    rows = [
        {
            "severity": level,
            "instances": compliance.instances_by_severity.get(level, 0),
            "patches": compliance.patches_by_severity.get(level, 0),
        }
        for level in COMPLIANCE_LEVELS
    ]
    create_table_artifact(table=rows, key=f"compliance-{_key(title)}", description=f"Compliance: {title}")
    lines = [f"# Compliance: {title}", ""] + [f"- {h}" for h in compliance.headlines()]
    lines += ["", "| patch group | compliant | non-compliant | unreported |", "| --- | ---: | ---: | ---: |"]
    for group, counts in compliance.by_patch_group.items():
        lines.append(f"| {group} | {counts.compliant} | {counts.non_compliant} | {counts.unreported} |")
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key=f"scan-{_key(title)}")


@task(name="notify", cache_policy=NO_CACHE, persist_result=False)
def notify(handle: FleetHandle, report: Report, files: dict[str, str]) -> dict[str, str]:
    """Send the report where the fleet's configuration says (S3, SNS); nothing when unset."""
    return handle.notifier.publish(report, files)
