"""Named patches: resolve them once per run, and read whether the targets have them."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from patchwave.connect import FleetHandle
from patchwave.fleet import ComplianceSummary, ManagedInstance
from patchwave.window.named import NamedPatches, needs_by_named, resolve_names


@task(name="resolve-named-patches", cache_policy=NO_CACHE, persist_result=False)
def resolve_named_patches(handle: FleetHandle, names: Sequence[str], source: str, field: str) -> NamedPatches:
    """Advisories, CVEs, KBs and packages -> install ids per operating system (bad input when
    a name resolves to nothing: before any instance is touched)."""
    named = resolve_names(handle.fleet, names, source, field)
    logger = get_run_logger()
    for os_name, ids in named.by_os:
        logger.info("Named patches on %s: %s", os_name, ", ".join(ids))
    return named


@task(name="named-patch-compliance", cache_policy=NO_CACHE, persist_result=False)
def assess_named(
    handle: FleetHandle, targets: Sequence[ManagedInstance], named: NamedPatches, source: str, field: str
) -> dict[str, ComplianceSummary]:
    """Which targets miss a named patch (DescribeInstancePatches), for planning."""
    return needs_by_named(handle.fleet, targets, named, source, field)
