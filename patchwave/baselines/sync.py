"""Baselines as code against an account (pure): what would change, in what order.

A baseline patchwave manages carries, at the end of its description, a fingerprint of
everything it was created from (``[patchwave sha256:...]``). Comparing fingerprints tells
whether a baseline drifted with one DescribePatchBaselines page, without reading every rule,
and marks which baselines patchwave owns: it never changes a baseline it does not manage, and
moves a patch group away from another baseline only when the config registers it elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from patchwave.config.baselines import Baseline, BaselinesFile

MARK = re.compile(r"\[patchwave sha256:([0-9a-f]{16})\]$")
LINUX_ONLY_FIELDS = ("EnableNonSecurity",)


def aws_request(baseline: Baseline) -> dict[str, Any]:
    """CreatePatchBaseline's arguments for a baseline (Description without the fingerprint)."""
    windows = baseline.operating_system == "WINDOWS"
    rules = []
    for rule in baseline.approval_rules:
        item: dict[str, Any] = {
            "PatchFilterGroup": {
                "PatchFilters": [
                    {"Key": key, "Values": list(values)} for key, values in sorted(rule.filters.items())
                ]
            },
            "ComplianceLevel": rule.compliance_level,
        }
        if not windows:
            item["EnableNonSecurity"] = rule.enable_non_security
        if rule.approve_after_days is not None:
            item["ApproveAfterDays"] = rule.approve_after_days
        else:
            assert rule.approve_until_date is not None
            item["ApproveUntilDate"] = rule.approve_until_date.isoformat()
        rules.append(item)
    request: dict[str, Any] = {
        "Name": baseline.name,
        "OperatingSystem": baseline.operating_system,
        "Description": baseline.description,
        "ApprovedPatches": list(baseline.approved_patches),
        "ApprovedPatchesComplianceLevel": baseline.approved_patches_compliance_level,
        "RejectedPatches": list(baseline.rejected_patches),
        "RejectedPatchesAction": baseline.rejected_patches_action,
    }
    if rules:
        request["ApprovalRules"] = {"PatchRules": rules}
    if not windows:
        request["ApprovedPatchesEnableNonSecurity"] = baseline.approved_patches_enable_non_security
    return request


def fingerprint(baseline: Baseline) -> str:
    canonical = json.dumps(aws_request(baseline), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def managed_description(baseline: Baseline) -> str:
    text = f"{baseline.description} " if baseline.description else ""
    return f"{text}[patchwave sha256:{fingerprint(baseline)}]"


def fingerprint_of(description: str) -> str | None:
    match = MARK.search(description or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class AccountBaseline:
    baseline_id: str
    name: str
    operating_system: str
    description: str
    default: bool = False

    @property
    def managed(self) -> bool:
        return fingerprint_of(self.description) is not None


@dataclass(frozen=True)
class AccountState:
    baselines: tuple[AccountBaseline, ...]
    groups: dict[tuple[str, str], str]  # (patch group, operating system) -> baseline id


@dataclass(frozen=True)
class Change:
    kind: str  # create | update | register | deregister | set_default
    baseline: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.baseline}: {self.detail}"


def plan_changes(desired: BaselinesFile, account: AccountState) -> list[Change]:
    """Creates and updates first, then deregistrations, registrations, defaults."""
    by_name = {b.name: b for b in account.baselines}
    by_id = {b.baseline_id: b for b in account.baselines}
    changes: list[Change] = []
    for baseline in desired.baselines:
        existing = by_name.get(baseline.name)
        if existing is None:
            changes.append(
                Change(
                    "create",
                    baseline.name,
                    f"{baseline.operating_system}, {len(baseline.approval_rules)} rule(s)",
                )
            )
        elif existing.operating_system != baseline.operating_system:
            raise ValueError(
                f"baseline {baseline.name!r} exists in the account for {existing.operating_system}, "
                f"not {baseline.operating_system}: rename it or delete the account's"
            )
        elif fingerprint_of(existing.description) != fingerprint(baseline):
            was = "not managed by patchwave" if not existing.managed else "its rules or lists differ"
            changes.append(Change("update", baseline.name, was))
    wanted: dict[tuple[str, str], str] = {
        (g, b.operating_system): b.name for b in desired.baselines for g in b.patch_groups
    }
    for (group, os_name), baseline_id in sorted(account.groups.items()):
        current = by_id.get(baseline_id)
        if wanted.get((group, os_name)) is None and current is not None and current.managed:
            changes.append(Change("deregister", current.name, f"patch group {group!r} ({os_name})"))
    for (group, os_name), name in sorted(wanted.items()):
        current_id = account.groups.get((group, os_name))
        current = by_id.get(current_id) if current_id else None
        if current is None or current.name != name:
            if current is not None:
                changes.append(Change("deregister", current.name, f"patch group {group!r} ({os_name})"))
            changes.append(Change("register", name, f"patch group {group!r} ({os_name})"))
    for baseline in desired.baselines:
        if baseline.default_for_os:
            existing = by_name.get(baseline.name)
            if existing is None or not existing.default:
                changes.append(
                    Change("set_default", baseline.name, f"default for {baseline.operating_system}")
                )
    return changes


def from_aws(item: dict[str, Any], patch_groups: list[str], default: bool) -> dict[str, Any]:
    """GetPatchBaseline's answer -> a baselines.yaml entry (for export)."""
    rules = []
    for rule in item.get("ApprovalRules", {}).get("PatchRules", []):
        entry: dict[str, Any] = {
            "filters": {f["Key"]: list(f["Values"]) for f in rule["PatchFilterGroup"]["PatchFilters"]},
            "compliance_level": rule.get("ComplianceLevel", "UNSPECIFIED"),
        }
        if "ApproveUntilDate" in rule:
            entry["approve_until_date"] = rule["ApproveUntilDate"]
        else:
            entry["approve_after_days"] = rule.get("ApproveAfterDays", 0)
        if rule.get("EnableNonSecurity"):
            entry["enable_non_security"] = True
        rules.append(entry)
    description = MARK.sub("", item.get("Description", "") or "").strip()
    result: dict[str, Any] = {
        "name": item["Name"],
        "operating_system": item["OperatingSystem"],
        "description": description,
        "approval_rules": rules,
        "approved_patches": list(item.get("ApprovedPatches", [])),
        "approved_patches_compliance_level": item.get("ApprovedPatchesComplianceLevel", "UNSPECIFIED"),
        "rejected_patches": list(item.get("RejectedPatches", [])),
        "rejected_patches_action": item.get("RejectedPatchesAction", "ALLOW_AS_DEPENDENCY"),
        "patch_groups": sorted(patch_groups),
        "default_for_os": default,
    }
    if item.get("ApprovedPatchesEnableNonSecurity"):
        result["approved_patches_enable_non_security"] = True
    return result
