"""What is installed on a simulated instance, and what it reports after an operation.

Patch states follow DescribeInstancePatches: INSTALLED, INSTALLED_OTHER,
INSTALLED_PENDING_REBOOT, INSTALLED_REJECTED, MISSING, FAILED, NOT_APPLICABLE; counts and
compliance follow DescribeInstancePatchStates and the compliance summaries.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from patchwave.baselines.catalog import Patch
from patchwave.baselines.evaluate import Verdict
from patchwave.config.baselines import Baseline
from patchwave.fleet import ComplianceSummary, InstancePatchState

INSTALLED = "INSTALLED"
PENDING_REBOOT = "PENDING_REBOOT"
FAILED = "FAILED"


@dataclass
class Inventory:
    """Patches applicable to one instance and the state of each one present."""

    applicable: frozenset[str]
    present: dict[str, str] = field(default_factory=dict)

    def to_install(
        self,
        baseline: Baseline,
        verdicts: Sequence[Verdict],
        override: Sequence[str] = (),
    ) -> list[Patch]:
        """What an Install would put on: installable (approved, not rejected) applicable
        patches not yet present; with an override list (install ids: name.arch or KB), the
        applicable patches it names instead, whether the baseline approves them or not, as
        InstallOverrideList does (a rejected one still never installs: patchwave's safety
        rule); under ALLOW_AS_DEPENDENCY, plus the rejected patches they depend on."""
        by_id = {v.patch.id: v for v in verdicts}
        named = set(override)
        chosen: list[Patch] = []
        for verdict in verdicts:
            patch = verdict.patch
            if patch.id not in self.applicable or self.present.get(patch.id) == INSTALLED:
                continue
            if self.present.get(patch.id) == PENDING_REBOOT:
                continue
            if named:
                if verdict.rejected or not named.intersection(patch.install_ids()):
                    continue
            elif not verdict.installable:
                continue
            chosen.append(patch)
        if baseline.rejected_patches_action == "ALLOW_AS_DEPENDENCY":
            chosen_ids = {p.id for p in chosen}
            for patch in list(chosen):
                for dep in patch.depends_on:
                    if dep in by_id and dep not in chosen_ids and self.present.get(dep) is None:
                        chosen.append(by_id[dep].patch)
                        chosen_ids.add(dep)
        return chosen

    def pending_reboot(self) -> bool:
        return PENDING_REBOOT in self.present.values()

    def complete_reboot(self) -> None:
        for patch_id, state in self.present.items():
            if state == PENDING_REBOOT:
                self.present[patch_id] = INSTALLED


def patch_state_of(
    inventory: Inventory, verdict: Verdict, action: str, available_security: str | None = None
) -> str | None:
    """The reported state of one patch, or None when it is not reported at all. A Windows
    baseline with AvailableSecurityUpdatesComplianceStatus reports an applicable security patch
    it does not approve as AVAILABLE_SECURITY_UPDATE (non-compliant when set to NON_COMPLIANT)."""
    patch = verdict.patch
    state = inventory.present.get(patch.id)
    if patch.id not in inventory.applicable:
        return "NOT_APPLICABLE" if verdict.installable else None
    if state == PENDING_REBOOT:
        return "INSTALLED_PENDING_REBOOT"
    if state == FAILED:
        return "FAILED"
    if state == INSTALLED:
        if verdict.rejected:
            return "INSTALLED_REJECTED" if action == "BLOCK" else "INSTALLED_OTHER"
        return "INSTALLED" if verdict.approved else "INSTALLED_OTHER"
    if verdict.installable:
        return "MISSING"
    if available_security is not None and patch.security and not verdict.rejected:
        return "AVAILABLE_SECURITY_UPDATE"
    return None


NON_COMPLIANT = frozenset({"INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED", "MISSING", "FAILED"})


def report(
    instance_id: str,
    patch_group: str,
    baseline: Baseline,
    verdicts: Sequence[Verdict],
    inventory: Inventory,
    snapshot_id: str,
    operation: str,
    when: dt.datetime,
) -> tuple[InstancePatchState, ComplianceSummary]:
    states: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    critical = security = other = 0
    available = baseline.available_security_updates_compliance_status
    for verdict in verdicts:
        state = patch_state_of(inventory, verdict, baseline.rejected_patches_action, available)
        if state is None:
            continue
        states[state] += 1
        if state in NON_COMPLIANT or (state == "AVAILABLE_SECURITY_UPDATE" and available == "NON_COMPLIANT"):
            level = "UNSPECIFIED" if state == "INSTALLED_REJECTED" else verdict.compliance_level
            by_severity[level] += 1
            if level == "CRITICAL":
                critical += 1
            elif verdict.patch.security:
                security += 1
            else:
                other += 1
    patch_state = InstancePatchState(
        instance_id=instance_id,
        patch_group=patch_group,
        baseline_id=baseline.name,
        snapshot_id=snapshot_id,
        operation=operation,
        operation_end_time=when,
        installed=states["INSTALLED"],
        installed_other=states["INSTALLED_OTHER"],
        installed_pending_reboot=states["INSTALLED_PENDING_REBOOT"],
        installed_rejected=states["INSTALLED_REJECTED"],
        missing=states["MISSING"],
        failed=states["FAILED"],
        not_applicable=states["NOT_APPLICABLE"],
        critical_non_compliant=critical,
        security_non_compliant=security,
        other_non_compliant=other,
    )
    summary = ComplianceSummary(
        instance_id=instance_id,
        compliant=not by_severity,
        compliant_count=states["INSTALLED"] + states["INSTALLED_OTHER"],
        non_compliant_by_severity=dict(by_severity),
    )
    return patch_state, summary
