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


def check_one_run(report: object, run_id: object, report_name: str, run_id_name: str) -> None:
    """Exactly one way to name the earlier run, said in the words the user typed."""
    if report is None and run_id is None:
        raise ConfigError(
            "retry",
            f"{report_name} or {run_id_name}",
            None,
            "name the earlier run: its JSON report or its run id",
        )
    if report is not None and run_id is not None:
        raise ConfigError("retry", f"{report_name} and {run_id_name}", None, "give only one of them")


def find_report(report_dir: Path, run_id: str) -> Path:
    """The report of exactly one run, by its flow run id, among the reports in a folder.

    A run retried from the Prefect UI keeps its id and writes one report per attempt: the
    latest attempt is the run's current state, so that one is taken."""
    found: list[tuple[int, Path]] = []
    for path in sorted(report_dir.glob(f"*{run_id}*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        if isinstance(data, dict) and data.get("run_id") == run_id:
            found.append((int(data.get("attempt", 1)), path))
    if not found:
        raise ConfigError(
            "--run-id",
            "run id",
            run_id,
            f"no report of that run in {report_dir} (give --report PATH instead)",
        )
    return max(found)[1]


def retry_window(report: Report, original: Window) -> Window:
    """The original window narrowed to what is worth retrying, wave by wave.

    Each retried wave keeps the original wave's error budget and concurrency in absolute
    numbers: a percentage recomputed on the few instances retried would tolerate fewer errors
    than the wave did (25% of 1 is 0). The in-run retry (Prefect's Retry) does the same, so
    both give the same outcome for the same failure."""
    retry = {i.instance_id: i.wave for i in report.instances if i.outcome in RETRYABLE}
    budgets = {w.name: w for w in report.waves}
    if not retry:
        raise ConfigError(
            "report", "instances", report.run_id, "nothing to retry: no failed or not attempted instance"
        )
    waves = []
    for wave in original.waves:
        members = sorted(iid for iid, name in retry.items() if name == wave.name)
        if members:
            update: dict[str, object] = {"select": WaveSelector(instance_ids=members)}
            earlier = budgets.get(wave.name)
            if earlier is not None:
                update.update(
                    max_errors=str(earlier.max_errors), max_concurrency=str(earlier.max_concurrency)
                )
            waves.append(wave.model_copy(update=update))
    data = original.model_dump()
    data.update(
        name=original.name, targets={"instance_ids": sorted(retry)}, waves=[w.model_dump() for w in waves]
    )
    for wave in data["waves"]:
        wave["require_approval"] = False  # the operator asked for this retry
    return Window.model_validate(data)


def reusable_snapshot(report: Report, now: dt.datetime) -> str | None:
    return report.snapshot_id if now - report.started_at < SNAPSHOT_LIFETIME else None
