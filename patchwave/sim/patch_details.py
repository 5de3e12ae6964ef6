"""The simulated fleet's answer to DescribeInstancePatches, from its own inventory.

Each patch's state is what the instance's last report would list (the verdicts of the snapshot
that report came from, against the instance's inventory); ``installed_time`` is the end of the
successful Install invocation that put it on (None for patches present from the start, which
the simulation never saw installed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from patchwave.history.records import RECORDED_STATES, PatchObservation
from patchwave.sim.inventory import patch_state_of

if TYPE_CHECKING:
    from patchwave.sim.fleet import SimulatedFleet


def installed_times(fleet: SimulatedFleet, now: dt.datetime) -> dict[tuple[str, str], dt.datetime]:
    """(instance, patch) -> when a successful Install that carried it ended (the first one)."""
    times: dict[tuple[str, str], dt.datetime] = {}
    for inv in fleet.invocations():
        if (
            inv.operation != "Install"
            or inv.final_status != "Success"
            or inv.cancelled_at is not None
            or inv.end is None
            or inv.end > now
        ):
            continue
        for patch_id in inv.install:
            key = (inv.instance_id, patch_id)
            if key not in times or inv.end < times[key]:
                times[key] = inv.end
    return times


def classification(patch: object) -> str:
    for attr in ("classification", "section", "product_family"):
        value = getattr(patch, attr, "")
        if value:
            return str(value)
    return ""


def describe_patches(
    fleet: SimulatedFleet, instance_ids: Sequence[str], now: dt.datetime
) -> dict[str, list[PatchObservation]]:
    times = installed_times(fleet, now)
    result: dict[str, list[PatchObservation]] = {}
    for instance_id in instance_ids:
        reported = fleet._reported.get(instance_id)
        if reported is None:
            continue
        state = reported[0]
        inst = fleet._instances[instance_id]
        baseline = fleet._baseline(inst)
        when = state.operation_end_time or now
        verdicts = fleet._verdicts_for(baseline, state.snapshot_id, when)
        patches: list[PatchObservation] = []
        for verdict in verdicts:
            patch_state = patch_state_of(inst.inventory, verdict, baseline.rejected_patches_action)
            if patch_state not in RECORDED_STATES:
                continue
            installed = times.get((instance_id, verdict.patch.id))
            patches.append(
                PatchObservation(
                    patch_id=verdict.patch.id,
                    state=patch_state,
                    severity="UNSPECIFIED"
                    if patch_state == "INSTALLED_REJECTED"
                    else verdict.compliance_level,
                    classification=classification(verdict.patch),
                    release_date=verdict.patch.release_date,
                    installed_time=installed if patch_state in ("INSTALLED", "INSTALLED_OTHER") else None,
                )
            )
        result[instance_id] = patches
    return result
