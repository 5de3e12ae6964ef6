"""DescribeInstancePatches: each patch on one managed node, for compliance history.

Read-only (ssm:DescribeInstancePatches), one node a call, up to 100 patches a page. The API
gives the vendor's severity (Critical, Important, ...), not the baseline's compliance level,
and no release date: history maps the severity onto the compliance levels below and counts a
patch's SLA from when it was first seen missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patchwave.history.records import RECORDED_STATES, PatchObservation

VENDOR_SEVERITY = {
    "critical": "CRITICAL",
    "important": "HIGH",
    "high": "HIGH",
    "moderate": "MEDIUM",
    "medium": "MEDIUM",
    "low": "LOW",
    "informational": "INFORMATIONAL",
}


def compliance_level(vendor_severity: str) -> str:
    return VENDOR_SEVERITY.get(vendor_severity.strip().lower(), "UNSPECIFIED")


def describe_instance_patches(ssm: Any, instance_ids: Sequence[str]) -> dict[str, list[PatchObservation]]:
    paginator = ssm.get_paginator("describe_instance_patches")
    result: dict[str, list[PatchObservation]] = {}
    for instance_id in instance_ids:
        found: list[PatchObservation] = []
        for page in paginator.paginate(InstanceId=instance_id, PaginationConfig={"PageSize": 100}):
            for item in page.get("Patches", []):
                state = item.get("State", "")
                if state not in RECORDED_STATES:
                    continue
                installed = item.get("InstalledTime") if state in ("INSTALLED", "INSTALLED_OTHER") else None
                found.append(
                    PatchObservation(
                        patch_id=item.get("KBId") or item.get("Title", ""),
                        state=state,
                        severity=compliance_level(item.get("Severity", "")),
                        classification=item.get("Classification", ""),
                        release_date=None,
                        installed_time=installed,
                    )
                )
        result[instance_id] = found
    return result
