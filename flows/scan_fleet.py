"""Scan a fleet and report its compliance by severity and patch group; installs nothing."""

from __future__ import annotations

import uuid

from prefect import flow, get_run_logger

from flows.history_hook import record_scan_history
from flows.opaque import opaque
from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET, current_run_id
from patchwave import events
from patchwave.config import load_config
from patchwave.config.loader import validate
from patchwave.config.windows import Targets
from patchwave.connect import open_fleet
from patchwave.window.targeting import select
from tasks.reporting import publish_compliance
from tasks.scan import assess, scan_instances


@flow(name="scan-fleet")
def scan_fleet(
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    window: str | None = None,
    tags: dict[str, list[str]] | None = None,
    timeout_minutes: int = 30,
    speed: float | None = None,
) -> dict[str, object]:
    """Scan the targets of a window, or instances with the given tags, or the whole fleet."""
    config = load_config(config_dir)
    targets = None
    if window is not None:
        targets = config.window(window).targets
    elif tags:
        targets = validate(Targets, {"tags": tags}, "--tag")
    handle = open_fleet(fleet, config, speed)
    logger = get_run_logger()
    instances = handle.fleet.list_instances()
    chosen = (
        select(instances, targets) if targets is not None else sorted(instances, key=lambda i: i.instance_id)
    )
    online = [i.instance_id for i in chosen if i.online]
    events.publish(events.Phase("scan", f"{len(online)} online of {len(chosen)} instance(s)"))
    scan_instances(handle, opaque(online), str(uuid.uuid4()), current_run_id(), timeout_minutes)
    assessment = assess(handle, opaque(chosen))
    for line in assessment.report.headlines():
        logger.info(line)
    publish_compliance(window or "fleet", assessment.report)
    record_scan_history(handle, chosen, current_run_id(), window or "fleet", config_dir, assessment.report)
    events.publish(events.Finished("compliance", assessment.report, {}))
    return assessment.report.model_dump()


checked(scan_fleet)  # deployment parameters: one line, before anything starts
