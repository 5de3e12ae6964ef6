"""Recording compliance history after a window or a scan, and publishing its trend artifacts.

One task per run (never per instance): it reads patch states and per-patch details for all the
run's instances in the fleet's chunks, records them in one transaction, and publishes the trend
table and the SLA-breach list as Prefect artifacts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from patchwave.compliance.summary import ComplianceReport
from patchwave.config.history import HistorySettings, load_history_settings
from patchwave.connect import FleetHandle
from patchwave.fleet import ManagedInstance
from patchwave.history.collect import scan_record, window_record
from patchwave.history.details import patch_details
from patchwave.history.opening import open_store, record_run
from patchwave.history.records import RunRecord
from patchwave.history.summary import summarise_history
from patchwave.reports.report import Report

ARTIFACT_RUNS = 60  # the trend artifact shows the latest runs; the full history is in the store


def _store_and_publish(handle: FleetHandle, settings: HistorySettings, run: RunRecord) -> dict[str, int]:
    store = open_store(settings)
    try:
        purged = record_run(store, run, settings.store.retention_days, handle.clock.now())
        summary = summarise_history(store.runs(), settings.sla_days, handle.clock.now())
    finally:
        store.close()
    trend = [
        {
            "at": p["at"],
            "run": p["name"],
            "kind": p["kind"],
            "observed": p["observed"],
            "compliant %": p["percent_compliant"],
            **{k.lower(): v for k, v in p["non_compliant_by_severity"].items() if k in ("CRITICAL", "HIGH")},
        }
        for p in summary["trend"][-ARTIFACT_RUNS:]
    ]
    create_table_artifact(table=trend, key="history-trend", description="Compliance history: trend by run")
    breaches = summary["sla_breaches"]
    lines = [f"# SLA breaches: {len(breaches)}", ""]
    lines += [
        "| instance | patch | severity | due | installed | days late |",
        "| --- | --- | --- | --- | --- | ---: |",
    ]
    lines += [
        f"| {b['instance_id']} | {b['patch_id']} | {b['severity']} | {b['due']} | "
        f"{b['installed_at'] or 'not yet'} | {b['days_late']} |"
        for b in breaches[:200]
    ]
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key="history-sla-breaches")
    return {"instances": len(run.instances), "purged": purged, "sla_breaches": len(breaches)}


@task(name="record-history", cache_policy=NO_CACHE, persist_result=False)
def record_window(handle: FleetHandle, report: Report, kind: str, config_dir: str) -> dict[str, int]:
    """A window, emergency or retry: every planned instance, its outcome and its patches."""
    settings = load_history_settings(config_dir)
    if not settings.enabled:
        return {}
    ids = [i.instance_id for i in report.instances]
    states = handle.fleet.patch_states(ids) if ids else {}
    run = window_record(report, kind, states, patch_details(handle.fleet, ids))
    counts = _store_and_publish(handle, settings, run)
    get_run_logger().info("History: recorded %s run %s (%s)", kind, report.run_id, counts)
    return counts


@task(name="record-scan-history", cache_policy=NO_CACHE, persist_result=False)
def record_scan(
    handle: FleetHandle,
    instances: Sequence[ManagedInstance],
    run_id: str,
    name: str,
    started: dt.datetime,
    config_dir: str,
    compliance: ComplianceReport | None = None,
) -> dict[str, int]:
    """A scan: every instance that reported, with its patches."""
    settings = load_history_settings(config_dir)
    if not settings.enabled:
        return {}
    ids = [i.instance_id for i in instances]
    states = handle.fleet.patch_states(ids) if ids else {}
    after = compliance.model_dump(mode="json") if compliance is not None else None
    details = patch_details(handle.fleet, ids)
    run = scan_record(run_id, name, started, handle.clock.now(), instances, states, details, after=after)
    counts = _store_and_publish(handle, settings, run)
    get_run_logger().info("History: recorded scan %s (%s)", run_id, counts)
    return counts
