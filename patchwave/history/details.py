"""History's per-patch view: each patch on each instance, as its last scan reported it.

It reads the fleet's one DescribeInstancePatches verb (``Fleet.instance_patches``, one instance
a call, 100 patches a page) and keeps what history records: states other than NOT_APPLICABLE,
the compliance level as severity, the installed time of installed patches.
"""

from __future__ import annotations

from collections.abc import Sequence

from patchwave.fleet import Fleet, InstancePatch
from patchwave.history.records import INSTALLED_STATES, RECORDED_STATES, PatchObservation


def observation(patch: InstancePatch) -> PatchObservation:
    return PatchObservation(
        patch_id=patch.id,
        state=patch.state,
        severity=patch.compliance_level,
        classification=patch.classification,
        release_date=patch.release_date,
        installed_time=patch.installed_time if patch.state in INSTALLED_STATES else None,
    )


def patch_details(fleet: Fleet, instance_ids: Sequence[str]) -> dict[str, list[PatchObservation]]:
    """Instance id -> every reported patch history keeps (NOT_APPLICABLE left out)."""
    if not instance_ids:
        return {}
    listed = fleet.instance_patches(instance_ids)
    return {iid: [observation(p) for p in ps if p.state in RECORDED_STATES] for iid, ps in listed.items()}
