"""The simulated fleet's answer to DescribeInstancePatches, from its own inventory: the one
answer named-patch verification, history and the report's drill-down read.

Each patch's state is what the instance's last report would list (the verdicts of the snapshot
that report came from, against the instance's inventory); ``installed_time`` is the end of the
successful Install invocation that put it on (None for patches present from the start, which
the simulation never saw installed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from patchwave.fleet import InstancePatch
from patchwave.sim.inventory import patch_state_of

if TYPE_CHECKING:
    from patchwave.sim.fleet import SimulatedFleet


def installed_times(
    fleet: SimulatedFleet, now: dt.datetime, instance_ids: Sequence[str]
) -> dict[tuple[str, str], dt.datetime]:
    """(instance, patch) -> when a successful Install that carried it ended (the first one),
    for these instances: their own invocations only (every invocation of the fleet for each
    call made a window's DescribeInstancePatches quadratic, 82 s of CPU at 50,000)."""
    times: dict[tuple[str, str], dt.datetime] = {}
    for inv in fleet.invocations_on(instance_ids):
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


def _first(patch: object, attrs: tuple[str, ...]) -> str:
    return next((str(v) for v in (getattr(patch, a, "") for a in attrs) if v), "")


def classification(patch: object) -> str:
    return _first(patch, ("classification", "section", "product_family"))


def vendor_severity(patch: object) -> str:
    """What DescribeInstancePatches' Severity carries: the vendor's (MSRC on Windows)."""
    return _first(patch, ("severity", "msrc_severity", "priority"))


INSTALLED_ONES = frozenset({"INSTALLED", "INSTALLED_OTHER", "INSTALLED_PENDING_REBOOT"})


def describe_patches(
    fleet: SimulatedFleet,
    instance_ids: Sequence[str],
    now: dt.datetime,
    install_ids: Sequence[str] | None = None,
) -> dict[str, list[InstancePatch]]:
    """The fleet's DescribeInstancePatches, uncharged (the caller charges its calls): one entry
    per catalog patch the instance's last report lists, NOT_APPLICABLE included; only patches
    with one of ``install_ids`` among their install ids when given."""
    times = installed_times(fleet, now, instance_ids)
    wanted = set(install_ids) if install_ids is not None else None
    result: dict[str, list[InstancePatch]] = {}
    for instance_id in instance_ids:
        reported = fleet._reported.get(instance_id)
        if reported is None or instance_id not in fleet._instances:
            continue
        state = reported[0]
        inst = fleet._instances[instance_id]
        baseline = fleet._baseline(inst)
        when = state.operation_end_time or now
        verdicts = fleet._verdicts_for(baseline, state.snapshot_id, when)
        patches: list[InstancePatch] = []
        for verdict in verdicts:
            ids = tuple(verdict.patch.install_ids())
            if wanted is not None and not wanted.intersection(ids):
                continue
            patch_state = patch_state_of(
                inst.inventory,
                verdict,
                baseline.rejected_patches_action,
                baseline.available_security_updates_compliance_status,
            )
            if patch_state is None:
                continue  # neither installed nor approved: AWS does not list it
            installed = times.get((instance_id, verdict.patch.id))
            patches.append(
                InstancePatch(
                    id=verdict.patch.id,
                    state=patch_state,
                    severity=vendor_severity(verdict.patch),
                    classification=classification(verdict.patch),
                    compliance_level="UNSPECIFIED"
                    if patch_state == "INSTALLED_REJECTED"
                    else verdict.compliance_level,
                    installed_time=installed if patch_state in INSTALLED_ONES else None,
                    release_date=verdict.patch.release_date,
                    install_ids=ids,
                    title=verdict.patch.title,
                )
            )
        result[instance_id] = patches
    return result
