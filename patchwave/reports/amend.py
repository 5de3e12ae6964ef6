"""Amending a run's report after the run: a rollback appends its section to the run's own
report, and the JSON, Markdown and HTML beside it are rewritten atomically (never half)."""

from __future__ import annotations

from pathlib import Path

from patchwave.reports.render import to_html, to_markdown
from patchwave.reports.report import Report, write_atomic
from patchwave.reports.rollback_section import RollbackSection


def add_rollback(path: Path, report: Report, section: RollbackSection) -> dict[str, str]:
    """Write ``report`` with ``section`` appended at ``path`` (and its .md/.html when present)."""
    amended = report.model_copy(update={"rollbacks": [*report.rollbacks, section]})
    write_atomic(path, amended.to_json())
    written = {"json": str(path)}
    for kind, suffix, render in (("markdown", ".md", to_markdown), ("html", ".html", to_html)):
        beside = path.with_suffix(suffix)
        if beside.exists():
            write_atomic(beside, render(amended))
            written[kind] = str(beside)
    return written
