"""Compliance of a set of instances, by severity and by patch group (pure).

The headline follows the Patch Manager console: "4 instances have critical severity compliance
issues" counts the instances with at least one non-compliant patch of that severity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from patchwave.config.baselines import COMPLIANCE_LEVELS
from patchwave.fleet import ComplianceSummary, ManagedInstance


class GroupCompliance(BaseModel):
    compliant: int = 0
    non_compliant: int = 0
    unreported: int = 0


class ComplianceReport(BaseModel):
    """Compliance at one moment (before or after a window)."""

    total: int
    compliant: int
    non_compliant: int
    unreported: int
    instances_by_severity: dict[str, int] = Field(
        description="Instances with at least one non-compliant patch of each severity."
    )
    patches_by_severity: dict[str, int] = Field(
        description="Non-compliant patches of each severity, summed over instances."
    )
    by_patch_group: dict[str, GroupCompliance]

    def headlines(self) -> list[str]:
        lines = [
            f"{count} instance{'s' if count != 1 else ''} "
            f"{'have' if count != 1 else 'has'} {level.lower()} severity compliance issues"
            for level, count in self.instances_by_severity.items()
            if count
        ]
        if not lines:
            lines.append(f"all {self.compliant} reporting instances are compliant")
        if self.unreported:
            lines.append(f"{self.unreported} instance(s) have not reported patch compliance")
        return lines


def summarise(
    instances: Sequence[ManagedInstance], summaries: Mapping[str, ComplianceSummary]
) -> ComplianceReport:
    by_severity: Counter[str] = Counter()
    patches: Counter[str] = Counter()
    groups: dict[str, GroupCompliance] = {}
    compliant = non_compliant = unreported = 0
    for instance in instances:
        group = groups.setdefault(instance.patch_group or "(default)", GroupCompliance())
        summary = summaries.get(instance.instance_id)
        if summary is None:
            unreported += 1
            group.unreported += 1
        elif summary.compliant:
            compliant += 1
            group.compliant += 1
        else:
            non_compliant += 1
            group.non_compliant += 1
            for level, count in summary.non_compliant_by_severity.items():
                if count:
                    by_severity[level] += 1
                    patches[level] += count
    return ComplianceReport(
        total=len(instances),
        compliant=compliant,
        non_compliant=non_compliant,
        unreported=unreported,
        instances_by_severity={level: by_severity[level] for level in COMPLIANCE_LEVELS},
        patches_by_severity={level: patches[level] for level in COMPLIANCE_LEVELS},
        by_patch_group=dict(sorted(groups.items())),
    )
