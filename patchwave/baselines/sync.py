"""Baselines as code against an account (pure): what would change, in what order.

Drift is read from the account's own fields (GetPatchBaseline) and compared, field by field,
with the request the config makes: a rule edited in the console, a global filter added with the
CLI, a source removed -- each is drift, and the change names the fields that differ. Every field
CreatePatchBaseline takes is modelled (GlobalFilters, Sources and
AvailableSecurityUpdatesComplianceStatus included), because UpdatePatchBaseline with
``Replace=true`` sets to null every field it is not sent: what the config does not carry would be
erased by an apply.

patchwave owns the baselines it tagged ``managed-by=patchwave``: it changes a baseline the
config names, deregisters patch groups only from baselines it owns, and moves a patch group away
from another baseline only when the config registers it elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from patchwave.baselines.catalog import NO_APPROVAL_DELAY
from patchwave.config.baselines import ApprovalRule, Baseline, BaselinesFile

# The fields of a baseline that patchwave compares and writes (GetPatchBaseline's names).
FIELDS = (
    "Description",
    "GlobalFilters",
    "ApprovalRules",
    "ApprovedPatches",
    "ApprovedPatchesComplianceLevel",
    "ApprovedPatchesEnableNonSecurity",
    "RejectedPatches",
    "RejectedPatchesAction",
    "Sources",
    "AvailableSecurityUpdatesComplianceStatus",
)


def _filter_group(filters: dict[str, list[str]]) -> dict[str, Any]:
    return {"PatchFilters": [{"Key": key, "Values": list(values)} for key, values in sorted(filters.items())]}


def _rule(rule: ApprovalRule, os_name: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PatchFilterGroup": _filter_group(rule.filters),
        "ComplianceLevel": rule.compliance_level,
    }
    if os_name != "WINDOWS":
        item["EnableNonSecurity"] = rule.enable_non_security
    if rule.approve_after_days is not None:
        item["ApproveAfterDays"] = rule.approve_after_days
    elif rule.approve_until_date is not None:
        item["ApproveUntilDate"] = rule.approve_until_date.isoformat()
    return item


def aws_request(baseline: Baseline) -> dict[str, Any]:
    """CreatePatchBaseline's (and UpdatePatchBaseline's, Replace=true) arguments for a baseline:
    every field the config sets."""
    os_name = baseline.operating_system
    request: dict[str, Any] = {
        "Name": baseline.name,
        "OperatingSystem": os_name,
        "Description": baseline.description,
        "ApprovalRules": {"PatchRules": [_rule(r, os_name) for r in baseline.approval_rules]},
        "ApprovedPatches": list(baseline.approved_patches),
        "ApprovedPatchesComplianceLevel": baseline.approved_patches_compliance_level,
        "RejectedPatches": list(baseline.rejected_patches),
        "RejectedPatchesAction": baseline.rejected_patches_action,
    }
    # empty ones are left out: with Replace=true that makes them null, which is what empty means
    if baseline.global_filters:
        request["GlobalFilters"] = _filter_group(baseline.global_filters)
    if baseline.sources:
        request["Sources"] = [
            {"Name": s.name, "Products": list(s.products), "Configuration": s.configuration}
            for s in baseline.sources
        ]
    if os_name != "WINDOWS":
        request["ApprovedPatchesEnableNonSecurity"] = baseline.approved_patches_enable_non_security
    if baseline.available_security_updates_compliance_status is not None:
        request["AvailableSecurityUpdatesComplianceStatus"] = (
            baseline.available_security_updates_compliance_status
        )
    return request


def _canonical_rule(rule: dict[str, Any]) -> dict[str, Any]:
    filters = rule.get("PatchFilterGroup", {}).get("PatchFilters", [])
    return {
        "Filters": sorted((f["Key"], tuple(sorted(f["Values"]))) for f in filters),
        "ComplianceLevel": rule.get("ComplianceLevel") or "UNSPECIFIED",
        "EnableNonSecurity": bool(rule.get("EnableNonSecurity", False)),
        "ApproveAfterDays": rule.get("ApproveAfterDays"),
        "ApproveUntilDate": rule.get("ApproveUntilDate"),
    }


def comparable(item: dict[str, Any]) -> dict[str, Any]:
    """A baseline's fields (a request or GetPatchBaseline's answer) in one canonical form:
    what AWS leaves out compares equal to its default, order inside filters does not count."""
    filters = (item.get("GlobalFilters") or {}).get("PatchFilters", [])
    return {
        "Description": item.get("Description") or "",
        "GlobalFilters": sorted((f["Key"], tuple(sorted(f["Values"]))) for f in filters),
        "ApprovalRules": [
            _canonical_rule(r) for r in (item.get("ApprovalRules") or {}).get("PatchRules", [])
        ],
        "ApprovedPatches": list(item.get("ApprovedPatches") or []),
        "ApprovedPatchesComplianceLevel": item.get("ApprovedPatchesComplianceLevel") or "UNSPECIFIED",
        "ApprovedPatchesEnableNonSecurity": bool(item.get("ApprovedPatchesEnableNonSecurity", False)),
        "RejectedPatches": list(item.get("RejectedPatches") or []),
        "RejectedPatchesAction": item.get("RejectedPatchesAction") or "ALLOW_AS_DEPENDENCY",
        "Sources": sorted(
            (s["Name"], tuple(s["Products"]), s["Configuration"]) for s in item.get("Sources") or []
        ),
        "AvailableSecurityUpdatesComplianceStatus": item.get("AvailableSecurityUpdatesComplianceStatus"),
    }


def differing_fields(desired: Baseline, actual: dict[str, Any]) -> list[str]:
    """The fields in which the account's baseline differs from the config's."""
    want, have = comparable(aws_request(desired)), comparable(actual)
    return [name for name in FIELDS if want[name] != have[name]]


@dataclass(frozen=True)
class AccountBaseline:
    baseline_id: str
    name: str
    operating_system: str
    fields: dict[str, Any] = field(default_factory=dict, compare=False)  # GetPatchBaseline's answer
    managed: bool = False  # tagged managed-by=patchwave
    default: bool = False


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

    @property
    def patch_group(self) -> str:
        """The patch group a register/deregister change is about."""
        return self.detail.split("'")[1]


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
        else:
            differ = differing_fields(baseline, existing.fields)
            if differ or not existing.managed:
                what = f"{', '.join(differ)} differ" if differ else "same fields"
                owner = "" if existing.managed else " (not tagged managed-by=patchwave yet)"
                changes.append(Change("update", baseline.name, what + owner))
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


def _filters_from(group: dict[str, Any] | None) -> dict[str, list[str]]:
    return {f["Key"]: list(f["Values"]) for f in (group or {}).get("PatchFilters", [])}


def from_aws(item: dict[str, Any], patch_groups: list[str], default: bool) -> dict[str, Any]:
    """GetPatchBaseline's answer -> a baselines.yaml entry (for export): every field it has."""
    os_name = item["OperatingSystem"]
    rules = []
    for rule in (item.get("ApprovalRules") or {}).get("PatchRules", []):
        entry: dict[str, Any] = {
            "filters": _filters_from(rule["PatchFilterGroup"]),
            "compliance_level": rule.get("ComplianceLevel", "UNSPECIFIED"),
        }
        if rule.get("ApproveUntilDate"):
            entry["approve_until_date"] = rule["ApproveUntilDate"]
        elif os_name not in NO_APPROVAL_DELAY:
            entry["approve_after_days"] = rule.get("ApproveAfterDays", 0)
        if rule.get("EnableNonSecurity"):
            entry["enable_non_security"] = True
        rules.append(entry)
    result: dict[str, Any] = {
        "name": item["Name"],
        "operating_system": os_name,
        "description": item.get("Description", "") or "",
        "global_filters": _filters_from(item.get("GlobalFilters")),
        "approval_rules": rules,
        "approved_patches": list(item.get("ApprovedPatches") or []),
        "approved_patches_compliance_level": item.get("ApprovedPatchesComplianceLevel") or "UNSPECIFIED",
        "rejected_patches": list(item.get("RejectedPatches") or []),
        "rejected_patches_action": item.get("RejectedPatchesAction") or "ALLOW_AS_DEPENDENCY",
        "sources": [
            {"name": s["Name"], "products": list(s["Products"]), "configuration": s["Configuration"]}
            for s in item.get("Sources") or []
        ],
        "patch_groups": sorted(patch_groups),
        "default_for_os": default,
    }
    if item.get("ApprovedPatchesEnableNonSecurity"):
        result["approved_patches_enable_non_security"] = True
    if item.get("AvailableSecurityUpdatesComplianceStatus") and os_name == "WINDOWS":
        result["available_security_updates_compliance_status"] = item[
            "AvailableSecurityUpdatesComplianceStatus"
        ]
    return result
