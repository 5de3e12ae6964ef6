"""DescribeInstancePatches: each patch on one managed node, as its last report lists it.

Read-only (ssm:DescribeInstancePatches), one node a call, up to 100 patches a page; optionally
filtered by KBId (``name.arch`` on Linux, the KB on Windows). One function serves named-patch
verification, the history store and the report's per-instance drill-down.

The API gives the vendor's severity (Critical, Important, ...), not the baseline's compliance
level, and no release date: the severity is mapped onto the compliance levels below. A patch
that is not installed carries InstalledTime at the epoch ("not all operating systems provide
this level of information"): read as unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from patchwave.fleet import InstancePatch

VENDOR_SEVERITY = {
    "critical": "CRITICAL",
    "important": "HIGH",
    "high": "HIGH",
    "moderate": "MEDIUM",
    "medium": "MEDIUM",
    "low": "LOW",
    "informational": "INFORMATIONAL",
}
PAGE_SIZE = 100
INSTALLED = frozenset({"INSTALLED", "INSTALLED_OTHER", "INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED"})
KNOWN_AFTER = dt.datetime(1971, 1, 1, tzinfo=dt.UTC)  # the epoch (or near it) means "not given"


def compliance_level(vendor_severity: str) -> str:
    return VENDOR_SEVERITY.get(vendor_severity.strip().lower(), "UNSPECIFIED")


def _installed_time(item: dict[str, Any]) -> dt.datetime | None:
    when = item.get("InstalledTime")
    if item.get("State") not in INSTALLED or not isinstance(when, dt.datetime):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return when if when >= KNOWN_AFTER else None


def describe_instance_patches(
    ssm: Any, instance_ids: Sequence[str], install_ids: Sequence[str] | None = None
) -> dict[str, list[InstancePatch]]:
    paginator = ssm.get_paginator("describe_instance_patches")
    wanted = sorted(set(install_ids)) if install_ids is not None else None
    filters = {"Filters": [{"Key": "KBId", "Values": wanted}]} if wanted else {}
    result: dict[str, list[InstancePatch]] = {}
    if wanted is not None and not wanted:
        return {iid: [] for iid in instance_ids}
    for instance_id in instance_ids:
        found: list[InstancePatch] = []
        pages = paginator.paginate(
            InstanceId=instance_id, PaginationConfig={"PageSize": PAGE_SIZE}, **filters
        )
        for page in pages:
            for item in page.get("Patches", []):
                kb = item.get("KBId") or item.get("Title", "")
                if wanted is not None and kb not in wanted:
                    continue
                severity = item.get("Severity", "")
                found.append(
                    InstancePatch(
                        id=kb,
                        state=item.get("State", ""),
                        severity=severity,
                        classification=item.get("Classification", ""),
                        compliance_level=compliance_level(severity),
                        installed_time=_installed_time(item),
                        title=item.get("Title", ""),
                    )
                )
        result[instance_id] = found
    return result
