"""Finding a window's targets on the fleet."""

from __future__ import annotations

from prefect import task

from patchwave.config.windows import Targets
from patchwave.connect import FleetHandle
from patchwave.fleet import ManagedInstance
from patchwave.window.targeting import select
from tasks.caching import per_flow_run


@task(name="discover-targets", cache_key_fn=per_flow_run, persist_result=True)
def discover_targets(handle: FleetHandle, targets: Targets) -> list[ManagedInstance]:
    """Every managed instance the targets select, in instance-id order."""
    return select(handle.fleet.list_instances(), targets)
