"""Baseline evaluation, pure: which patches a baseline approves on a date, and which baseline
applies to an instance.

Semantics follow Patch Manager:
- a patch outside the baseline's global filters is approved by no rule;
- a rule approves a patch when every filter matches ('*' matches anything) and the patch is old
  enough (release date + approve_after_days <= date, in UTC days) or released on or before
  approve_until_date (Debian and Ubuntu rules take no delay: approved once released); on
  Amazon Linux, RHEL and SUSE a rule approves only security patches unless
  enable_non_security is set;
- approved_patches add patches by pattern; rejected_patches always win;
- under BLOCK, a patch that depends on a rejected one is rejected too (it could not install
  without it); under ALLOW_AS_DEPENDENCY the rejected package may come in as a dependency and
  is then reported INSTALLED_OTHER;
- a patch approved by several rules takes the most severe compliance level among them;
- an instance's baseline is the one registered for its patch group and operating system, else
  the operating system's default (the config's, else the AWS predefined one).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from patchwave.baselines.catalog import Patch
from patchwave.config.baselines import COMPLIANCE_LEVELS, ApprovalRule, Baseline, BaselinesFile

NON_SECURITY_FILTERED = frozenset(
    {"AMAZON_LINUX_2023", "AMAZON_LINUX_2", "AMAZON_LINUX", "REDHAT_ENTERPRISE_LINUX", "SUSE"}
)


@dataclass(frozen=True)
class Verdict:
    """What a baseline says of one patch."""

    patch: Patch
    approved: bool
    rejected: bool
    compliance_level: str
    reason: str

    @property
    def installable(self) -> bool:
        return self.approved and not self.rejected


def pattern_matches(pattern: str, patch: Patch) -> bool:
    """Patterns match the patch id or a package name ('system-release.*', 'KB5066835');
    case-sensitive, '*' and '?' as wildcards."""
    return any(fnmatch.fnmatchcase(name, pattern) for name in patch.names())


def _matches_any(patterns: Iterable[str], patch: Patch) -> str | None:
    for pattern in patterns:
        if pattern_matches(pattern, patch):
            return pattern
    return None


def filters_match(filters: dict[str, list[str]], patch: Patch) -> bool:
    return all("*" in values or patch.attribute(key) in values for key, values in filters.items())


def rule_approves(rule: ApprovalRule, os_name: str, patch: Patch, on: dt.date) -> bool:
    if not filters_match(rule.filters, patch):
        return False
    if os_name in NON_SECURITY_FILTERED and not patch.security and not rule.enable_non_security:
        return False
    if rule.approve_after_days is not None:
        return patch.release_date + dt.timedelta(days=rule.approve_after_days) <= on
    if rule.approve_until_date is not None:
        return patch.release_date <= rule.approve_until_date
    return patch.release_date <= on  # Debian/Ubuntu: approved once released


def most_severe(levels: Iterable[str]) -> str:
    ranked = sorted(levels, key=COMPLIANCE_LEVELS.index)
    return ranked[0] if ranked else "UNSPECIFIED"


def evaluate(baseline: Baseline, patches: Sequence[Patch], on: dt.date) -> list[Verdict]:
    """One verdict per patch of the catalog, in catalog order."""
    verdicts: dict[str, Verdict] = {}
    for patch in patches:
        levels = (
            [
                rule.compliance_level
                for rule in baseline.approval_rules
                if rule_approves(rule, baseline.operating_system, patch, on)
            ]
            if filters_match(baseline.global_filters, patch)
            else []
        )
        reasons = [f"rule(s) approve at {most_severe(levels)}"] if levels else []
        if _matches_any(baseline.approved_patches, patch):
            levels.append(baseline.approved_patches_compliance_level)
            reasons.append("in approved_patches")
        rejected_by = _matches_any(baseline.rejected_patches, patch)
        verdicts[patch.id] = Verdict(
            patch=patch,
            approved=bool(levels),
            rejected=rejected_by is not None,
            compliance_level=most_severe(levels),
            reason=f"rejected by {rejected_by!r}"
            if rejected_by
            else ("; ".join(reasons) or "no rule approves it"),
        )
    if baseline.rejected_patches_action == "BLOCK":
        _block_dependents(baseline, verdicts)
    return [verdicts[p.id] for p in patches]


def _block_dependents(baseline: Baseline, verdicts: dict[str, Verdict]) -> None:
    """Under BLOCK nothing that needs a rejected patch installs either."""
    changed = True
    while changed:
        changed = False
        for patch_id, verdict in list(verdicts.items()):
            if verdict.rejected:
                continue
            blocked = [d for d in verdict.patch.depends_on if d in verdicts and verdicts[d].rejected]
            if blocked:
                verdicts[patch_id] = Verdict(
                    verdict.patch,
                    verdict.approved,
                    True,
                    verdict.compliance_level,
                    f"blocked: depends on rejected {blocked[0]}",
                )
                changed = True


@cache
def predefined_baselines() -> BaselinesFile:
    text = resources.files("patchwave").joinpath("defaults", "predefined_baselines.yaml").read_text()
    return BaselinesFile.model_validate(yaml.safe_load(text))


class BaselineResolver:
    """Patch group + operating system -> baseline, with the default fallback."""

    def __init__(self, baselines: BaselinesFile) -> None:
        self._by_group: dict[tuple[str, str], Baseline] = {}
        self._default: dict[str, Baseline] = {b.operating_system: b for b in predefined_baselines().baselines}
        self._by_name: dict[str, Baseline] = {}
        for baseline in baselines.baselines:
            self._by_name[baseline.name] = baseline
            for group in baseline.patch_groups:
                self._by_group[(group, baseline.operating_system)] = baseline
            if baseline.default_for_os:
                self._default[baseline.operating_system] = baseline

    def for_instance(self, operating_system: str, patch_group: str | None) -> Baseline:
        if patch_group is not None:
            registered = self._by_group.get((patch_group, operating_system))
            if registered is not None:
                return registered
        return self._default[operating_system]

    def by_name(self, name: str) -> Baseline | None:
        return self._by_name.get(name)
