"""The report's per-instance patch lists: one task per run, reading wave by wave in chunks of 50."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from patchwave.connect import FleetHandle
from patchwave.reports.patch_lists import read_patch_lists
from patchwave.reports.report import PatchesBeforeAfter
from patchwave.window.runner import WaveResult


@task(name="read-patch-lists", cache_policy=NO_CACHE, persist_result=False)
def patch_lists(
    handle: FleetHandle, results: Sequence[WaveResult], since: dt.datetime, which: str = "all"
) -> dict[str, PatchesBeforeAfter]:
    """After verification: what was missing before and how it stands now, per attempted instance,
    or only those not patched (DescribeInstancePatches, one call an instance)."""
    found = read_patch_lists(handle.fleet, results, since, which)
    get_run_logger().info("Patch lists: %d instance(s) with patches missing before or after", len(found))
    return found
