"""What one run leaves in the history: per instance, each patch seen and its state.

Plain frozen dataclasses: the store keeps them, the measures read them back. A patch's
``severity`` is its compliance level (CRITICAL, HIGH, ...), as ListComplianceItems reports it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Patch states history keeps (DescribeInstancePatches); NOT_APPLICABLE is not recorded.
RECORDED_STATES = frozenset(
    {"INSTALLED", "INSTALLED_OTHER", "INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED", "MISSING", "FAILED"}
)
NON_COMPLIANT_STATES = frozenset({"INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED", "MISSING", "FAILED"})
INSTALLED_STATES = frozenset({"INSTALLED", "INSTALLED_OTHER"})
RUN_KINDS = ("window", "scan", "emergency", "retry", "import", "rollback")


@dataclass(frozen=True)
class PatchObservation:
    """One patch on one instance as a run saw it."""

    patch_id: str
    state: str
    severity: str = "UNSPECIFIED"
    classification: str = ""
    release_date: dt.date | None = None
    installed_time: dt.datetime | None = None


@dataclass(frozen=True)
class InstanceObservation:
    """One instance in one run: where it stood, and (for windows) its outcome."""

    instance_id: str
    observed_at: dt.datetime
    platform: str = ""
    patch_group: str = ""
    baseline: str = ""
    outcome: str = ""
    patches: tuple[PatchObservation, ...] = ()

    @property
    def compliant(self) -> bool:
        return not any(p.state in NON_COMPLIANT_STATES for p in self.patches)

    def non_compliant_severities(self) -> set[str]:
        return {p.severity for p in self.patches if p.state in NON_COMPLIANT_STATES}


@dataclass(frozen=True)
class RunRecord:
    """One run as history keeps it. ``run_id`` is the key: recording it again replaces it."""

    run_id: str
    kind: str
    name: str
    started_at: dt.datetime
    finished_at: dt.datetime
    status: str = ""
    imported: bool = False
    instances: tuple[InstanceObservation, ...] = ()
    before: dict[str, object] = field(default_factory=dict)
    after: dict[str, object] = field(default_factory=dict)

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for inst in self.instances:
            if inst.outcome:
                counts[inst.outcome] = counts.get(inst.outcome, 0) + 1
        return counts
