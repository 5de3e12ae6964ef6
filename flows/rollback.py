"""The rollback flow: restore chosen instances of a run to their pre-patch root volume.

What ``patchwave rollback`` runs, and what the Prefect UI can run too (deploy it, or run it
from the CLI). Bad input (a run with no report, an instance not in the run, one without a
pre-patch snapshot) fails the flow before any fleet is opened. One task restores every chosen
instance (never one task per instance); the result is appended to the run's report as a
rollback section, and recorded in the history store when history is enabled. The flow run ends
Failed when an instance was not restored.
"""

from __future__ import annotations

import uuid

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from flows.opaque import opaque
from patchwave.config import load_config
from patchwave.config.history import load_history_settings
from patchwave.connect import FleetHandle, open_fleet, open_run_store
from patchwave.history.opening import open_store, record_run
from patchwave.history.rollback import rollback_record
from patchwave.reports.amend import add_rollback
from patchwave.reports.report import Report
from patchwave.reports.rollback_section import RollbackEntry, RollbackSection
from patchwave.window.rollback import RollbackRun, plan_rollback

DEFAULT_FLEET = "sim:config/fleets/demo.yaml"


@task(name="restore-root-volumes", cache_policy=NO_CACHE, persist_result=False)
def restore_instances(
    handle: FleetHandle, report: Report, instance_ids: list[str], rollback_id: str
) -> RollbackSection:
    """Replace the root volumes of the chosen instances, wait, verify health."""
    logger = get_run_logger()

    def said(entry: RollbackEntry) -> None:
        logger.info("%s: %s %s", entry.instance_id, entry.result, entry.error)

    health = bool(report.window_config.get("health_check", True))
    run = RollbackRun(handle.fleet, handle.clock, rollback_id, handle.leases, health, said)
    return run.run(report, instance_ids)


@task(name="record-rollback-history", cache_policy=NO_CACHE, persist_result=False)
def record_rollback_history(report: Report, section: RollbackSection, config_dir: str) -> bool:
    settings = load_history_settings(config_dir)
    if not settings.enabled:
        return False
    store = open_store(settings)
    try:
        record_run(
            store, rollback_record(report, section), settings.store.retention_days, section.finished_at
        )
    finally:
        store.close()
    return True


@flow(name="rollback", flow_run_name="rollback-{run_id}")
def rollback(
    run_id: str,
    instances: list[str] | None = None,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    speed: float | None = None,
) -> State:
    """Restore instances of run ``run_id`` (default: those that failed) from their pre-patch
    root volume snapshots."""
    logger = get_run_logger()
    config = load_config(config_dir)
    path, report, chosen = plan_rollback(open_run_store(config), report_dir, run_id, list(instances or []))
    handle = open_fleet(fleet, config, speed)
    rollback_id = f"rollback-{flow_run.get_id() or uuid.uuid4()}"
    logger.info("Rollback %s of run %s: %d instance(s)", rollback_id, run_id, len(chosen))
    section = restore_instances(handle, opaque(report), chosen, rollback_id)
    files = add_rollback(path, report, section)
    handle.runs.keep_reports(run_id, files)
    try:
        record_rollback_history(opaque(report), opaque(section), config_dir)
    except Exception as exc:  # noqa: BLE001 - history must never fail a rollback
        logger.error("History not recorded for rollback %s: %s", rollback_id, exc)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(section.counts.items()))
    message = f"rollback {rollback_id} of run {run_id}: {counts}; report {path}"
    logger.info(message)
    if any(e.result != "restored" for e in section.entries):
        return Failed(message=message)
    return Completed(message=message)
