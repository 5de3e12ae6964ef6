"""Where a finished window's report goes besides local files: a port with two sides.

The AWS side (``patchwave.aws.notify``) writes the report to S3 and publishes a summary to SNS
when config/aws.yaml names a bucket or a topic; without them nothing is sent.
"""

from __future__ import annotations

from typing import Protocol

from patchwave.reports.report import Report


class Notifier(Protocol):
    def publish(self, report: Report, files: dict[str, str]) -> dict[str, str]:
        """Send the report; returns where it went (kind -> location)."""
        ...


class NoNotifier:
    def publish(self, report: Report, files: dict[str, str]) -> dict[str, str]:
        return {}


def summary_text(report: Report, link: str) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in report.totals.items() if v)
    waves = "; ".join(f"{w.name} {w.status} ({w.errors}/{w.max_errors} errors)" for w in report.waves)
    return (
        f"patchwave window {report.window}: {report.status}\n"
        f"run {report.run_id}, snapshot {report.snapshot_id}\n"
        f"outcomes: {counts}\nwaves: {waves}\nreport: {link}\n"
    )
