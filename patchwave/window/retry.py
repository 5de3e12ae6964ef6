"""Retrying what failed in an earlier run (pure): which instances, in which waves, with which
snapshot.

Only instances whose outcome is an error or not_attempted are taken up again, each in its
original wave, waves in their original order. The earlier run's SnapshotId is reused while it
is valid (Systems Manager keeps a snapshot 3 days), so the retry installs the same patch set.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from patchwave.config.windows import WaveSelector, Window
from patchwave.errors import ConfigError
from patchwave.reports.report import Report
from patchwave.window.outcomes import RETRYABLE

SNAPSHOT_LIFETIME = dt.timedelta(days=3)


def load_report(path: Path) -> Report:
    try:
        return Report.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(str(path), "report", str(path), "file not found") from None
    except (ValueError, OSError) as exc:
        raise ConfigError(
            str(path), "report", str(path), f"not a patchwave report: {str(exc)[:200]}"
        ) from None


def find_report(report_dir: Path, run_id: str) -> Path:
    """The report of a run, by its flow run id, among the reports in a folder."""
    for path in sorted(report_dir.glob("*.json"), reverse=True):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("run_id") == run_id:
                return path
        except (ValueError, OSError):
            continue
    raise ConfigError(str(report_dir), "run_id", run_id, "no report of that run in this folder")


def retry_window(report: Report, original: Window) -> Window:
    """The original window narrowed to what is worth retrying, wave by wave."""
    retry = {i.instance_id: i.wave for i in report.instances if i.outcome in RETRYABLE}
    if not retry:
        raise ConfigError(
            "report", "instances", report.run_id, "nothing to retry: no failed or not attempted instance"
        )
    waves = []
    for wave in original.waves:
        members = sorted(iid for iid, name in retry.items() if name == wave.name)
        if members:
            waves.append(wave.model_copy(update={"select": WaveSelector(instance_ids=members)}))
    data = original.model_dump()
    data.update(
        name=original.name, targets={"instance_ids": sorted(retry)}, waves=[w.model_dump() for w in waves]
    )
    for wave in data["waves"]:
        wave["require_approval"] = False  # the operator asked for this retry
    return Window.model_validate(data)


def reusable_snapshot(report: Report, now: dt.datetime) -> str | None:
    return report.snapshot_id if now - report.started_at < SNAPSHOT_LIFETIME else None
