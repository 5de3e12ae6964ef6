"""Named patches on the simulated fleet: DescribeAvailablePatches and DescribeInstancePatches
answered from the catalogs, with what a real account does and does not do:

- ADVISORY_ID, CVE_ID and NAME are filter keys for Linux patches only (Windows patches are
  found by PATCH_ID, their KB id; the Patch shape's CVEIds "applies to Linux-based managed
  nodes only"), so a CVE resolves on Linux catalogs and never on Windows;
- one call per operating system and filter key used (the adapter's requests, one page each);
- DescribeInstancePatches reports, per install id (KBId: name.arch on Linux, the KB on
  Windows), the state relative to the instance's baseline: an unapproved patch that is not
  installed is not reported at all, as on AWS.
"""

from __future__ import annotations

from collections.abc import Sequence

from patchwave.baselines.catalog import OPERATING_SYSTEMS, Patch, builtin_catalog
from patchwave.fleet import ResolvedPatch
from patchwave.window.named import kind_of, package_name

FILTER_KEY = {"advisory": "ADVISORY_ID", "cve": "CVE_ID", "package": "NAME", "kb": "PATCH_ID"}


def _matches(kind: str, name: str, patch: Patch) -> tuple[str, ...]:
    """The install ids of ``patch`` that ``name`` asks for."""
    if kind == "advisory":
        return patch.install_ids() if patch.id == name else ()
    if kind == "cve":
        return patch.install_ids() if name in patch.cves else ()
    if kind == "kb":
        return (patch.id,) if patch.id == name else ()
    return tuple(p for p in patch.packages if name in (p, package_name(p)))


def resolve(names: Sequence[str]) -> tuple[list[ResolvedPatch], int]:
    """What each name installs per operating system, and how many DescribeAvailablePatches
    calls the adapter makes for it (one per operating system and filter key)."""
    found: list[ResolvedPatch] = []
    calls = 0
    kinds = {name: kind_of(name) for name in names}
    for os_name in OPERATING_SYSTEMS:
        windows = os_name == "WINDOWS"
        usable = {n: k for n, k in kinds.items() if (k == "kb") == windows}
        calls += len({FILTER_KEY[k] for k in usable.values()})
        for patch in builtin_catalog(os_name).patches:
            for name, kind in usable.items():
                for install_id in _matches(kind, name, patch):
                    found.append(ResolvedPatch(name, os_name, install_id, patch.title))
    return found, calls
