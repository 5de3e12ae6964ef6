"""Seeding history from what Systems Manager still has: each node's latest patch report.

Patch Manager keeps only the latest scan of each node, so an import is one observation per node
at its report's time, recorded as one run marked ``imported``. Its run id is made of the
fleet and the newest report time, so importing the same reports twice counts once.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from patchwave.compliance.summary import summarise
from patchwave.config.history import HistorySettings
from patchwave.fleet import Fleet
from patchwave.history.collect import scan_record
from patchwave.history.details import patch_details
from patchwave.history.opening import open_store, record_run
from patchwave.history.records import RunRecord


def import_run_id(description: str, latest: dt.datetime) -> str:
    digest = hashlib.sha256(description.encode()).hexdigest()[:10]
    return f"import-{digest}-{latest.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"


def import_from_fleet(
    fleet: Fleet, description: str, now: dt.datetime, settings: HistorySettings, url: str
) -> RunRecord:
    instances = sorted(fleet.list_instances(), key=lambda i: i.instance_id)
    ids = [i.instance_id for i in instances]
    states = fleet.patch_states(ids)
    details = patch_details(fleet, ids)
    after = summarise(instances, fleet.compliance(ids)).model_dump(mode="json")
    times = [s.operation_end_time for s in states.values() if s.operation_end_time is not None]
    latest = max(times, default=now)
    earliest = min(times, default=now)
    run = scan_record(
        import_run_id(description, latest),
        "import",
        earliest,
        latest,
        instances,
        states,
        details,
        kind="import",
        after=after,
    )
    store = open_store(settings, url)
    try:
        record_run(store, run, settings.store.retention_days, now)
    finally:
        store.close()
    return run
