"""Baseline evaluation: each rule kind, patterns, BLOCK vs ALLOW_AS_DEPENDENCY, date edges."""

from __future__ import annotations

import datetime as dt

import pytest

from patchwave.baselines.catalog import Patch, builtin_catalog
from patchwave.baselines.evaluate import BaselineResolver, evaluate, pattern_matches
from patchwave.config.baselines import Baseline, BaselinesFile

RELEASED = dt.date(2026, 11, 1)


def patch(pid: str, **kw) -> Patch:
    base = {
        "id": pid,
        "title": pid,
        "product": "AmazonLinux2023",
        "classification": "Security",
        "severity": "Important",
        "packages": (f"{pid.lower()}.x86_64",),
        "release_date": RELEASED,
    }
    base.update(kw)
    return Patch.model_validate(base)


def baseline(**kw) -> Baseline:
    base = {
        "name": "TestBaseline",
        "operating_system": "AMAZON_LINUX_2023",
        "approval_rules": [
            {"filters": {"PRODUCT": ["*"]}, "approve_after_days": 7, "compliance_level": "HIGH"}
        ],
    }
    base.update(kw)
    return Baseline.model_validate(base)


def verdict(b: Baseline, p: Patch, on: dt.date):
    (v,) = evaluate(b, [p], on)
    return v


def test_approve_after_days_counts_from_release_in_whole_days() -> None:
    b, p = baseline(), patch("A")
    assert not verdict(b, p, RELEASED + dt.timedelta(days=6)).approved
    on_the_day = verdict(b, p, RELEASED + dt.timedelta(days=7))
    assert on_the_day.approved and on_the_day.compliance_level == "HIGH"


def test_zero_days_approves_on_release_day_not_before() -> None:
    b = baseline(approval_rules=[{"filters": {"PRODUCT": ["*"]}, "approve_after_days": 0}])
    assert verdict(b, patch("A"), RELEASED).approved
    assert not verdict(b, patch("A"), RELEASED - dt.timedelta(days=1)).approved


def test_approve_until_date_includes_the_date_itself() -> None:
    b = baseline(approval_rules=[{"filters": {"PRODUCT": ["*"]}, "approve_until_date": "2026-11-01"}])
    assert verdict(b, patch("A"), dt.date(2027, 1, 1)).approved
    assert not verdict(b, patch("B", release_date=dt.date(2026, 11, 2)), dt.date(2027, 1, 1)).approved


def test_filters_must_all_match_and_star_matches_anything() -> None:
    rule = {"filters": {"CLASSIFICATION": ["Security"], "SEVERITY": ["Critical"]}, "approve_after_days": 0}
    b = baseline(approval_rules=[rule])
    assert verdict(b, patch("A", severity="Critical"), RELEASED).approved
    assert not verdict(b, patch("B", severity="Important"), RELEASED).approved
    assert not verdict(
        b, patch("C", severity="Critical", classification="Bugfix", security=False), RELEASED
    ).approved


def test_non_security_updates_need_enable_non_security_on_linux() -> None:
    bugfix = patch("A", classification="Bugfix", severity="", security=False)
    off = baseline(approval_rules=[{"filters": {"PRODUCT": ["*"]}, "approve_after_days": 0}])
    on = baseline(
        approval_rules=[{"filters": {"PRODUCT": ["*"]}, "approve_after_days": 0, "enable_non_security": True}]
    )
    assert not verdict(off, bugfix, RELEASED).approved
    assert verdict(on, bugfix, RELEASED).approved


def test_most_severe_level_wins_across_rules_and_the_approved_list() -> None:
    b = baseline(
        approval_rules=[
            {"filters": {"PRODUCT": ["*"]}, "approve_after_days": 0, "compliance_level": "LOW"},
            {"filters": {"SEVERITY": ["Important"]}, "approve_after_days": 0, "compliance_level": "MEDIUM"},
        ],
        approved_patches=["A"],
        approved_patches_compliance_level="CRITICAL",
    )
    assert verdict(b, patch("A"), RELEASED).compliance_level == "CRITICAL"
    assert verdict(b, patch("B"), RELEASED).compliance_level == "MEDIUM"


def test_approved_list_approves_what_no_rule_does() -> None:
    b = baseline(approval_rules=[], approved_patches=["kernel*"])
    assert verdict(b, patch("K", packages=("kernel.x86_64",)), RELEASED).approved
    assert not verdict(b, patch("O", packages=("openssl.x86_64",)), RELEASED).approved


def test_rejected_patterns_win_over_approval() -> None:
    b = baseline(approved_patches=["system-release*"], rejected_patches=["system-release.*"])
    v = verdict(b, patch("SR", packages=("system-release.noarch",)), RELEASED + dt.timedelta(days=30))
    assert v.approved and v.rejected and not v.installable
    assert "system-release.*" in v.reason


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("system-release.*", "system-release.noarch", True),
        ("system-release.*", "system-release", False),
        ("System-release.*", "system-release.noarch", False),
        ("KB5066835", "KB5066835", True),
        ("kernel?headers*", "kernel-headers.x86_64", True),
    ],
)
def test_patterns_are_case_sensitive_globs_on_ids_and_packages(pattern: str, name: str, hit: bool) -> None:
    assert pattern_matches(pattern, patch("X", packages=(name,))) is hit


def test_block_rejects_what_depends_on_a_rejected_patch() -> None:
    dep = patch("DEP", packages=("system-release.noarch",))
    user = patch("USER", depends_on=("DEP",))
    block = baseline(rejected_patches=["system-release.*"], rejected_patches_action="BLOCK")
    allow = baseline(rejected_patches=["system-release.*"], rejected_patches_action="ALLOW_AS_DEPENDENCY")
    later = RELEASED + dt.timedelta(days=30)
    blocked = {v.patch.id: v for v in evaluate(block, [dep, user], later)}
    allowed = {v.patch.id: v for v in evaluate(allow, [dep, user], later)}
    assert blocked["USER"].rejected and "depends on rejected DEP" in blocked["USER"].reason
    assert allowed["USER"].installable and allowed["DEP"].rejected


def test_windows_filters_use_msrc_severity() -> None:
    b = Baseline.model_validate(
        {
            "name": "Win",
            "operating_system": "WINDOWS",
            "approval_rules": [
                {
                    "filters": {"CLASSIFICATION": ["SecurityUpdates"], "MSRC_SEVERITY": ["Critical"]},
                    "approve_after_days": 7,
                    "compliance_level": "CRITICAL",
                }
            ],
        }
    )
    verdicts = {v.patch.id: v for v in evaluate(b, builtin_catalog("WINDOWS").patches, dt.date(2026, 11, 29))}
    assert verdicts["KB5068861"].approved  # critical security update, 19 days old
    assert not verdicts["KB5068790"].approved  # Important
    assert not verdicts["KB5069410"].approved  # DefinitionUpdates


def test_default_config_approves_security_at_critical_and_rejects_system_release(config) -> None:
    (b,) = config.baselines.baselines
    verdicts = {
        v.patch.id: v
        for v in evaluate(b, builtin_catalog("AMAZON_LINUX_2023").patches, dt.date(2026, 11, 29))
    }
    assert verdicts["ALAS2023-2026-1101"].compliance_level == "CRITICAL"
    assert verdicts["ALAS2023-2026-1135"].compliance_level == "MEDIUM"  # bugfix, non-security rule
    assert verdicts["ALAS2023-2026-1142"].rejected  # system-release
    assert verdicts["ALAS2023-2026-1139"].installable  # depends on system-release, allowed as dependency


def test_resolver_prefers_patch_group_then_config_default_then_predefined() -> None:
    registered = baseline(name="Grouped", patch_groups=["Critical"])
    default = baseline(name="MyDefault", default_for_os=True)
    resolver = BaselineResolver(BaselinesFile(baselines=[registered, default]))
    assert resolver.for_instance("AMAZON_LINUX_2023", "Critical").name == "Grouped"
    assert resolver.for_instance("AMAZON_LINUX_2023", "critical").name == "MyDefault"  # case-sensitive
    assert resolver.for_instance("AMAZON_LINUX_2023", None).name == "MyDefault"
    assert resolver.for_instance("UBUNTU", "Critical").name == "AWS-UbuntuDefaultPatchBaseline"
    only_grouped = BaselineResolver(BaselinesFile(baselines=[registered]))
    assert (
        only_grouped.for_instance("AMAZON_LINUX_2023", None).name == "AWS-AmazonLinux2023DefaultPatchBaseline"
    )
