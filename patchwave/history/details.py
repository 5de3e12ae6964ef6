"""The per-patch verb history needs: each patch on each instance, as its last scan reported it.

Beside the Fleet port rather than in it (the port carries what a window needs; this carries
what history records). It stands for DescribeInstancePatches, one instance a call, 100 patches a
page. A fleet without the verb records instances without patches (counts only), never fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from patchwave.history.records import PatchObservation


@runtime_checkable
class PatchDetails(Protocol):
    def patch_details(self, instance_ids: Sequence[str]) -> dict[str, list[PatchObservation]]:
        """Instance id -> every reported patch (NOT_APPLICABLE left out)."""
        ...


def patch_details(fleet: object, instance_ids: Sequence[str]) -> dict[str, list[PatchObservation]]:
    if not instance_ids or not isinstance(fleet, PatchDetails):
        return {}
    return fleet.patch_details(instance_ids)
