"""Scanning and reading compliance, for a whole set of instances at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from prefect import get_run_logger, task

from patchwave import events
from patchwave.compliance.scan import run_scan
from patchwave.compliance.summary import ComplianceReport, summarise
from patchwave.connect import FleetHandle
from patchwave.fleet import ComplianceSummary, InstancePatchState, Invocation, ManagedInstance
from tasks.caching import per_flow_run


@dataclass(frozen=True)
class Assessment:
    """Patch states and compliance of a set of instances at one moment."""

    states: dict[str, InstancePatchState]
    compliance: dict[str, ComplianceSummary]
    report: ComplianceReport


@task(name="scan", cache_key_fn=per_flow_run, persist_result=True)
def scan_instances(
    handle: FleetHandle,
    instance_ids: Sequence[str],
    snapshot_id: str,
    run_id: str,
    timeout_minutes: int,
) -> dict[str, Invocation]:
    """AWS-RunPatchBaseline Scan on the instances (commands of 50), waiting for every one."""
    logger = get_run_logger()
    logger.info("Scanning %d instance(s), snapshot %s", len(instance_ids), snapshot_id)
    events.publish(events.ScanProgress(0, len(instance_ids)))
    results = run_scan(
        handle.fleet,
        handle.clock,
        instance_ids,
        snapshot_id=snapshot_id,
        run_id=run_id,
        timeout=dt.timedelta(minutes=timeout_minutes),
        on_progress=lambda done, total: events.publish(events.ScanProgress(done, total)),
        leases=handle.leases,
    )
    failed = [i for i, inv in results.items() if inv.status != "Success"]
    if failed:
        logger.warning("Scan did not succeed on %d instance(s): %s", len(failed), ", ".join(failed[:10]))
    return results


@task(name="assess-compliance", cache_key_fn=per_flow_run, persist_result=True)
def assess(handle: FleetHandle, instances: Sequence[ManagedInstance], scope: str = "") -> Assessment:
    """Read patch states and compliance (read-only) and summarise them by severity."""
    ids = [i.instance_id for i in instances]
    states = handle.fleet.patch_states(ids)
    compliance = handle.fleet.compliance(ids)
    return Assessment(states, compliance, summarise(instances, compliance))
