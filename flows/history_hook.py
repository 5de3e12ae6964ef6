"""The one call each flow makes to record history: a history failure is logged, never fatal.

A patch window must not fail because the history database is down or full: the report is
already written and published by then, and history can be seeded again from a later scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prefect import get_run_logger

from flows.opaque import opaque
from patchwave.compliance.summary import ComplianceReport
from patchwave.connect import FleetHandle
from patchwave.fleet import ManagedInstance
from patchwave.reports.report import Report
from tasks.history import record_scan, record_window


def record_window_history(handle: FleetHandle, report: Report, config_dir: str, kind: str) -> None:
    try:
        record_window(handle, opaque(report), kind, config_dir)
    except Exception as exc:  # noqa: BLE001 - history must never fail a window
        get_run_logger().error("History not recorded for run %s: %s", report.run_id, exc)


def record_scan_history(
    handle: FleetHandle,
    instances: Sequence[ManagedInstance],
    run_id: str,
    name: str,
    config_dir: str,
    compliance: ComplianceReport | None = None,
    started: dt.datetime | None = None,
) -> None:
    try:
        when = started or handle.clock.now()
        record_scan(handle, opaque(instances), run_id, name, when, config_dir, opaque(compliance))
    except Exception as exc:  # noqa: BLE001 - history must never fail a scan
        get_run_logger().error("History not recorded for scan %s: %s", run_id, exc)
