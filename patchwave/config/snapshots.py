"""A window's ``snapshot`` setting: EBS snapshots of each instance before its install.

Off by default (snapshots cost storage and time); a window that turns it on gets, per instance,
a snapshot of every volume taken and completed before AWS-RunPatchBaseline is sent there, kept
``retention_days`` (a delete-after tag that ``patchwave snapshots prune`` honours), and the way
back: ``patchwave rollback`` restores the root volume from it.
"""

from __future__ import annotations

from pydantic import Field

from patchwave.config.baselines import Strict


class SnapshotSettings(Strict):
    enabled: bool = Field(default=False, description="Snapshot each instance's volumes before its install.")
    retention_days: int = Field(
        default=7, ge=1, le=3650, description="Days a snapshot is kept: its delete-after tag."
    )
    timeout_minutes: int = Field(
        default=60, ge=1, le=1440, description="A snapshot not completed by then counts as failed."
    )
