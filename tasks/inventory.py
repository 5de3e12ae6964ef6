"""Finding a window's targets on the fleet."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from patchwave.config.windows import Targets
from patchwave.connect import FleetHandle
from patchwave.fleet import ManagedInstance
from patchwave.targeting import select


@task(name="discover-targets", cache_policy=NO_CACHE, persist_result=False)
def discover_targets(handle: FleetHandle, targets: Targets) -> list[ManagedInstance]:
    """Every managed instance the targets select, in instance-id order."""
    return select(handle.fleet.list_instances(), targets)
