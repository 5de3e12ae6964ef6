"""The baseline fields patchwave now carries mean on the simulated fleet what they mean on an
account: GlobalFilters keep patches out of every rule, AvailableSecurityUpdatesComplianceStatus
makes unapproved security updates count, Debian and Ubuntu rules approve on release."""

from __future__ import annotations

import datetime as dt

from patchwave.baselines.catalog import builtin_catalog
from patchwave.baselines.evaluate import evaluate
from patchwave.config.baselines import Baseline, BaselinesFile
from patchwave.fleet import patch_states_by_id
from tests.helpers import group, ids, spec, world

ON = dt.date(2026, 11, 29)
WIN = ids("b7", 3)


def approved(baseline: Baseline) -> set[str]:
    return {
        v.patch.id
        for v in evaluate(baseline, builtin_catalog(baseline.operating_system).patches, ON)
        if v.approved
    }


def test_global_filters_keep_patches_out_of_every_rule() -> None:
    rule = {"filters": {"CLASSIFICATION": ["*"]}, "approve_after_days": 0, "enable_non_security": True}
    everything = Baseline.model_validate(
        {"name": "all-al2", "operating_system": "AMAZON_LINUX_2", "approval_rules": [rule]}
    )
    critical_only = everything.model_copy(update={"global_filters": {"SEVERITY": ["Critical"]}})
    assert approved(critical_only) == {"ALAS2-2026-2601"} < approved(everything)


def test_ubuntu_rules_approve_on_release() -> None:
    ubuntu = Baseline.model_validate(
        {
            "name": "ubuntu-all",
            "operating_system": "UBUNTU",
            "approval_rules": [{"filters": {"PRIORITY": ["*"]}}],
        }
    )
    assert "USN-7921-1" in approved(ubuntu)  # released 2026-11-25, four days before: no delay


def windows_world(status: str | None):
    baseline = {
        "name": "win-critical",
        "operating_system": "WINDOWS",
        "default_for_os": True,
        "approval_rules": [{"filters": {"MSRC_SEVERITY": ["Critical"]}, "approve_after_days": 0}],
        "available_security_updates_compliance_status": status,
    }
    sim, _ = world(
        spec([group("win", WIN, platform="WINDOWS")], missing_rate=1.0, applicable_rate=1.0),
        BaselinesFile.model_validate({"baselines": [baseline]}),
    )
    return sim


def test_available_security_updates_compliance_status_counts_unapproved_security_patches() -> None:
    lenient, strict = windows_world("COMPLIANT"), windows_world("NON_COMPLIANT")
    # the approved Critical KBs are missing either way; the unapproved Important security ones
    # (.NET, SQL Server, Defender platform) only count under NON_COMPLIANT
    loose = lenient.compliance(WIN)[WIN[0]].non_compliant_by_severity
    tight = strict.compliance(WIN)[WIN[0]].non_compliant_by_severity
    assert sum(tight.values()) == sum(loose.values()) + 3  # KB5066782, KB5068790, KB5069410
    asked = ["KB5066782", "KB5068790"]
    states = patch_states_by_id(strict.instance_patches(WIN, asked)[WIN[0]], asked)
    assert states == {"KB5066782": "AVAILABLE_SECURITY_UPDATE", "KB5068790": "AVAILABLE_SECURITY_UPDATE"}
    assert windows_world(None).instance_patches(WIN, ["KB5066782"])[WIN[0]] == []  # not reported at all
