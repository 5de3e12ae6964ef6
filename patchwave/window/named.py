"""Named patches (InstallOverrideList) as AWS means them, pure.

Operators name advisories (ALAS..., RHSA..., USN..., SUSE-SU..., DSA...), CVE ids, Windows KB
ids or packages. AWS-RunPatchBaseline's InstallOverrideList names what to install per platform:
on Linux a package with its architecture (``openssl-libs.x86_64``), on Windows a KB id. So every
name is resolved, per operating system, to those install ids before a run touches an instance
(on AWS with DescribeAvailablePatches, on the simulator from its catalogs); a name that resolves
to nothing stops the run as bad input.

An override installs the named patches whether the baseline approves them or not. A run with
named patches therefore plans by "are the named patches missing on this instance" (never by the
baseline's compliance), and verifies that each one is installed (DescribeInstancePatches).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from patchwave.errors import ConfigError
from patchwave.fleet import ComplianceSummary, Fleet, ManagedInstance, ResolvedPatch, patch_states_by_id

CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
KB = re.compile(r"^KB\d{6,8}$")
ADVISORY = re.compile(r"^(ALAS\d*|RHSA|RHBA|RHEA|ELSA|USN|SUSE-[A-Z]{2}|DSA|DLA)-[\w:.\-]+$")
PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+:\-]{0,127}$")

ARCHES = ("x86_64", "noarch", "i686", "aarch64", "amd64", "arm64")


def package_name(install_id: str) -> str:
    """'openssl-libs.x86_64' -> 'openssl-libs' (what DescribeAvailablePatches' NAME filter takes)."""
    head, _, arch = install_id.rpartition(".")
    return head if head and arch in ARCHES else install_id


# Patch states that count as "the named patch is on the instance, or cannot be" (NOT_APPLICABLE:
# the package is not on the instance, reported for patches the baseline approves).
INSTALLED_STATES = frozenset({"INSTALLED", "INSTALLED_OTHER", "NOT_APPLICABLE"})
PENDING_STATE = "INSTALLED_PENDING_REBOOT"


def kind_of(name: str) -> str:
    """advisory | cve | kb | package; raises ValueError for anything else."""
    if CVE.match(name):
        return "cve"
    if KB.match(name):
        return "kb"
    if ADVISORY.match(name):
        return "advisory"
    if PACKAGE.match(name):
        return "package"
    raise ValueError(
        f"{name!r} is not an advisory (ALAS..., RHSA..., USN..., SUSE-SU...), CVE, KB or package name"
    )


def check_names(names: Sequence[str]) -> list[str]:
    """Validate named patches as given in config or on the command line (no fleet call)."""
    for name in names:
        kind_of(name)
    return list(names)


@dataclass(frozen=True)
class NamedPatches:
    """What a run was asked to install, resolved: operating system -> install ids."""

    requested: tuple[str, ...]
    by_os: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every install id, of every operating system (sorted, unique)."""
        return tuple(sorted({i for _, ids in self.by_os for i in ids}))

    def for_os(self, operating_system: str) -> tuple[str, ...]:
        return dict(self.by_os).get(operating_system, ())


def resolve(
    requested: Sequence[str], found: Sequence[ResolvedPatch], source: str, field: str = "patches"
) -> NamedPatches:
    """Group what the fleet resolved by operating system; any name that resolved to nothing
    is bad input (one line, exit 2), before any instance is touched."""
    by_os: dict[str, set[str]] = {}
    resolved_names: set[str] = set()
    for patch in found:
        by_os.setdefault(patch.operating_system, set()).add(patch.install_id)
        resolved_names.add(patch.name)
    missing = [n for n in requested if n not in resolved_names]
    if missing:
        raise ConfigError(
            source,
            field,
            missing[0] if len(missing) == 1 else missing,
            "resolves to no available patch (DescribeAvailablePatches found no advisory, CVE, KB or "
            "package by that name)",
        )
    return NamedPatches(
        tuple(requested), tuple(sorted((os_name, tuple(sorted(ids))) for os_name, ids in by_os.items()))
    )


def check_platforms(named: NamedPatches, targets: Sequence[ManagedInstance], source: str, field: str) -> None:
    """Named patches that install nothing on any target's platform are bad input too."""
    platforms = sorted({t.platform for t in targets})
    if targets and not any(named.for_os(p) for p in platforms):
        raise ConfigError(
            source,
            field,
            list(named.requested),
            f"resolves to nothing for the targets' operating systems ({', '.join(platforms)}); "
            f"only for {', '.join(o for o, _ in named.by_os)}",
        )


def named_compliance(
    targets: Sequence[ManagedInstance],
    named: NamedPatches,
    reported: Mapping[str, Mapping[str, str]],
) -> dict[str, ComplianceSummary]:
    """Planning by named patches: an instance is 'compliant' when every named patch for its
    platform is reported installed, whatever its baseline says; one with none of the named
    patches for its platform has nothing to install."""
    result: dict[str, ComplianceSummary] = {}
    for target in targets:
        wanted = named.for_os(target.platform)
        states = reported.get(target.instance_id, {})
        missing = [i for i in wanted if states.get(i) not in INSTALLED_STATES]
        result[target.instance_id] = ComplianceSummary(
            instance_id=target.instance_id,
            compliant=not missing,
            compliant_count=len(wanted) - len(missing),
            non_compliant_by_severity={"NAMED": len(missing)} if missing else {},
        )
    return result


def named_problems(wanted: Sequence[str], states: Mapping[str, str], allow_pending: bool) -> list[str]:
    """Verification of one instance: each named patch must be reported installed (pending a
    reboot only when the window reboots never)."""
    ok = INSTALLED_STATES | ({PENDING_STATE} if allow_pending else set())
    problems = [
        f"{i} is {states.get(i, 'not reported').replace('_', ' ').lower()}"
        for i in wanted
        if states.get(i) not in ok
    ]
    return [f"named patch {p}" for p in problems]


def override_groups(
    named: NamedPatches | None, flat: Sequence[str], platforms: Mapping[str, str], batch: Sequence[str]
) -> list[tuple[list[str], tuple[str, ...]]]:
    """Split a batch so each command's InstallOverrideList names only its platforms' ids: a
    Linux command names no KB, a Windows one no package (one file per platform group)."""
    if named is None:
        return [(list(batch), tuple(flat))]
    groups: dict[tuple[str, ...], list[str]] = {}
    for iid in batch:
        groups.setdefault(named.for_os(platforms.get(iid, "")), []).append(iid)
    return [(ids, override) for override, ids in groups.items()]


def wanted_for(
    named: NamedPatches | None, flat: Sequence[str], platforms: Mapping[str, str], instance_ids: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """The install ids each instance was asked to install: its platform's, or the flat list of
    a run that gave install ids without resolving them."""
    if named is not None:
        return {iid: named.for_os(platforms.get(iid, "")) for iid in instance_ids}
    return {iid: tuple(flat) for iid in instance_ids}


def reported_states(
    fleet: Fleet, instance_ids: Sequence[str], install_ids: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Instance -> install id -> reported state (DescribeInstancePatches filtered by KBId)."""
    if not instance_ids:
        return {}
    listed = fleet.instance_patches(instance_ids, install_ids)
    return {iid: patch_states_by_id(patches, install_ids) for iid, patches in listed.items()}


def verify_named(
    fleet: Fleet, wanted: Mapping[str, Sequence[str]], allow_pending: bool
) -> dict[str, list[str]]:
    """Problems per instance with its named patches (DescribeInstancePatches, one per instance)."""
    ids = sorted({i for w in wanted.values() for i in w})
    asked = [iid for iid, w in wanted.items() if w]
    reported = reported_states(fleet, asked, ids)
    return {iid: named_problems(w, reported.get(iid, {}), allow_pending) for iid, w in wanted.items()}


def resolve_names(fleet: Fleet, names: Sequence[str], source: str, field: str) -> NamedPatches:
    """Resolve named patches through the fleet (DescribeAvailablePatches); bad input if any
    name resolves to nothing."""
    return resolve(list(names), fleet.resolve_patches(list(names)), source, field)


def needs_by_named(
    fleet: Fleet, targets: Sequence[ManagedInstance], named: NamedPatches, source: str, field: str
) -> dict[str, ComplianceSummary]:
    """Which targets miss a named patch (DescribeInstancePatches on the online ones that have
    named patches for their platform): what a run with named patches plans by."""
    check_platforms(named, targets, source, field)
    online = [t.instance_id for t in targets if t.online and named.for_os(t.platform)]
    return named_compliance(targets, named, reported_states(fleet, online, named.ids))
