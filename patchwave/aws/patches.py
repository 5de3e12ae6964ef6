"""Named patches on AWS: DescribeAvailablePatches to resolve advisories, CVEs, KBs and packages
to what InstallOverrideList names (read-only: ssm:DescribeAvailablePatches).

What the service model says and this module follows:
- Linux filters need a PRODUCT filter beside ADVISORY_ID, CVE_ID or NAME ("the following
  command fails: describe-available-patches --filters Key=CVE_ID,..."), so each Linux
  operating system is asked with its products (``PRODUCTS``: extend it for other releases);
- Windows patches are found by PATCH_ID (the KB); CVE and advisory ids are Linux-only keys;
- an InstallOverrideList id is ``Name.Arch`` on Linux and the KB number on Windows;
- DescribeInstancePatches (``aws/instance_patches.py``) takes one instance per call, filtered
  by KBId (which on Linux holds name.arch, e.g. ``java-1.7.0-openjdk.x86_64``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from patchwave.fleet import ResolvedPatch
from patchwave.window.named import kind_of, package_name

PRODUCTS: dict[str, list[str]] = {
    "AMAZON_LINUX_2023": ["AmazonLinux2023"],
    "AMAZON_LINUX_2": ["AmazonLinux2", "AmazonLinux2.0"],
    "AMAZON_LINUX": ["AmazonLinux2018.03", "AmazonLinux2017.09"],
    "REDHAT_ENTERPRISE_LINUX": [
        "RedhatEnterpriseLinux9.4",
        "RedhatEnterpriseLinux9.5",
        "RedhatEnterpriseLinux8.10",
    ],
    "SUSE": ["SUSE15.6", "SUSE15.5"],
    "UBUNTU": ["Ubuntu22.04", "Ubuntu24.04", "Ubuntu20.04"],
    "DEBIAN": ["Debian12", "Debian11"],
}
LINUX_KEYS = {"advisory": "ADVISORY_ID", "cve": "CVE_ID", "package": "NAME"}
VALUES_PER_FILTER = 20


def _pages(ssm: Any, filters: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for page in ssm.get_paginator("describe_available_patches").paginate(
        Filters=filters, PaginationConfig={"PageSize": 100}
    ):
        yield from page["Patches"]


def _asked_by(kind: str, names: Sequence[str], patch: dict[str, Any]) -> list[str]:
    if kind == "advisory":
        return [n for n in names if n in patch.get("AdvisoryIds", [])]
    if kind == "cve":
        return [n for n in names if n in patch.get("CVEIds", [])]
    full = f"{patch.get('Name', '')}.{patch['Arch']}" if patch.get("Arch") else patch.get("Name", "")
    return [n for n in names if n in (full, patch.get("Name"))]


def resolve(ssm: Any, names: Sequence[str]) -> list[ResolvedPatch]:
    by_kind: dict[str, list[str]] = {}
    for name in names:
        by_kind.setdefault(kind_of(name), []).append(name)
    found: list[ResolvedPatch] = []
    for os_name, products in PRODUCTS.items():
        for kind, key in LINUX_KEYS.items():
            asked = by_kind.get(kind, [])
            for start in range(0, len(asked), VALUES_PER_FILTER):
                chunk = asked[start : start + VALUES_PER_FILTER]
                values = [package_name(n) for n in chunk] if kind == "package" else chunk
                filters = [
                    {"Key": "PRODUCT", "Values": products},
                    {"Key": key, "Values": sorted(set(values))},
                ]
                for patch in _pages(ssm, filters):
                    install_id = f"{patch['Name']}.{patch['Arch']}" if patch.get("Arch") else patch["Name"]
                    for name in _asked_by(kind, chunk, patch):
                        found.append(ResolvedPatch(name, os_name, install_id, patch.get("Title", "")))
    kbs = by_kind.get("kb", [])
    for start in range(0, len(kbs), VALUES_PER_FILTER):
        chunk = kbs[start : start + VALUES_PER_FILTER]
        for patch in _pages(ssm, [{"Key": "PATCH_ID", "Values": chunk}]):
            if patch.get("KbNumber") in chunk:
                found.append(
                    ResolvedPatch(patch["KbNumber"], "WINDOWS", patch["KbNumber"], patch.get("Title", ""))
                )
    return found
