"""Issue 10's whole window: everything a real account does at once, through the AWS adapter
against the emulator and directly on the simulator, with the right outcome for every instance,
the same both ways, and the adapter's own call counter equal to what the simulator charged,
call by call.

At once: ping lag on every controlled reboot (PingStatus reads Online for 5 minutes after a
node went down), two instances terminated mid-wave (one while installing, one before its
command was sent), a stale patch state (reported late, within the scan timeout), one that
never arrives in time, and one AccessDenied.

Then, on the same fleet and clock, an emergency by CVE on a patch the baseline has not
approved (curl, Medium: the Amazon Linux 2023 default baseline never approves it) for two lab
instances outside the window: the CVE resolves to packages, the override installs them, and
verification finds each one installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from flows.patch_window import run_window
from patchwave.config.aws import AwsSettings
from patchwave.connect import FleetHandle
from patchwave.fleet import patch_states_by_id
from patchwave.sim.emulator import TARGET_GROUP, emulated_aws_fleet
from patchwave.window.emergency import EmergencyRequest, emergency_window
from tests.helpers import group, ids, spec, window, world

pytestmark = pytest.mark.usefixtures("prefect_harness")

WEB = ids("e1", 14)
LAB = ids("e2", 2)  # no patch group: the default baseline, which never approves curl
CURL_CVE = "CVE-2026-30388"  # ALAS2023-2026-1118: curl.x86_64, libcurl.x86_64
CURL = ("curl.x86_64", "libcurl.x86_64")
MID_INSTALL, BEFORE_SEND, DENIED, LATE, NEVER = WEB[0], WEB[5], WEB[6], WEB[7], WEB[8]
WAVES = [
    {"name": "canary", "select": {"count": 2}, "max_concurrency": "2", "max_errors": "0"},
    {"name": "rest", "max_concurrency": "4", "max_errors": "1"},
]
EXPECTED = {
    MID_INSTALL: ("canary", "skipped_offline"),
    BEFORE_SEND: ("rest", "skipped_offline"),
    DENIED: ("rest", "not_delivered"),
    LATE: ("rest", "patched"),
    NEVER: ("rest", "failed_verification"),
}
HEALTH_APIS = {"HealthCheck", "DescribeTargetHealth"}  # the simulator's health vs one target group
# the simulator's agent reads the override list from the command; on AWS it is a file in S3
NOT_SSM = HEALTH_APIS | {"PutObject"}


def fleet_spec() -> Any:
    return spec(
        [
            group("web", WEB, tags={"Patch Group": "Critical"}),
            group("lab", LAB, tags={"Workload": "Lab", "Role": "lab"}),
        ],
        applicable_rate=1.0,
        ping_lag_minutes=5,
        install_minutes_by_id={MID_INSTALL: 30},
        terminate_at_minutes={MID_INSTALL: 10, BEFORE_SEND: 5},
        status_details_by_id={DENIED: "AccessDenied"},
        report_delay_minutes_by_id={LATE: 8, NEVER: 45},
        # calls take time and are throttled: a page answered late must still cost the same
        api_latency_ms=80,
        throttling={"enabled": True, "rate_per_second": 0.5, "burst": 1},
    )


def run(handle: FleetHandle, tmp_path: Path, name: str) -> Any:
    win = window(
        WAVES,
        reboot="controlled",
        reboot_concurrency="3",
        timeouts={"install_minutes": 60, "scan_minutes": 20, "reboot_minutes": 15},
    )

    @flow(name=f"whole-window-{name}")
    def go() -> Any:
        return run_window(handle, win, report_dir=str(tmp_path / name))

    return go()


def emergency(handle: FleetHandle, tmp_path: Path, name: str) -> Any:
    request = EmergencyRequest.model_validate(
        {"reason": "curl CVE", "tags": {"Role": ["lab"]}, "patches": [CURL_CVE]}
    )

    @flow(name=f"whole-window-emergency-{name}")
    def go() -> Any:
        return run_window(
            handle, emergency_window(request), report_dir=str(tmp_path / f"e-{name}"), reason="curl CVE"
        )

    return go()


def run_both(config: Any, tmp_path: Path) -> tuple[Any, Any, Any, Any, Any, Any, Any]:
    sim, clock = world(fleet_spec(), config.baselines)
    direct_handle = FleetHandle(sim, clock, "simulator")
    direct = run(direct_handle, tmp_path, "direct")
    direct_cve = emergency(direct_handle, tmp_path, "direct")
    backing, backing_clock = world(fleet_spec(), config.baselines)
    settings = AwsSettings.model_validate(
        {
            "region": "eu-west-1",
            "install_override_bucket": "overrides",
            "health": {"target_group_arns": [TARGET_GROUP]},
        }
    )
    adapter, _ = emulated_aws_fleet(backing, settings)
    aws_handle = FleetHandle(adapter, backing_clock, "aws (emulated)")
    through_aws = run(aws_handle, tmp_path, "aws")
    aws_cve = emergency(aws_handle, tmp_path, "aws")
    return direct, through_aws, sim, backing, adapter, direct_cve, aws_cve


def test_the_whole_window_on_a_real_account_s_semantics(config, tmp_path: Path) -> None:
    direct, through_aws, sim, backing, adapter, direct_cve, aws_cve = run_both(config, tmp_path)
    for report, fleet in ((direct_cve, sim), (aws_cve, backing)):  # the emergency by CVE
        assert {i.instance_id: i.outcome.value for i in report.instances} == dict.fromkeys(LAB, "patched")
        lab_installs = [c for c in fleet.sent if c.operation == "Install" and set(c.instance_ids) <= set(LAB)]
        assert lab_installs and {c.install_override for c in lab_installs} == {CURL}  # packages, not the CVE
        states = fleet.instance_patches_of(LAB, CURL, fleet.clock.now())  # uncharged: evidence
        assert all(patch_states_by_id(states[i], CURL)[p] == "INSTALLED_OTHER" for i in LAB for p in CURL), (
            states
        )  # unapproved, there
    cve_outcomes = lambda r: {i.instance_id: (i.outcome, i.status_details) for i in r.instances}  # noqa: E731
    assert cve_outcomes(aws_cve) == cve_outcomes(direct_cve)
    for report, fleet in ((direct, sim), (through_aws, backing)):
        got = {i.instance_id: i for i in report.instances}
        assert set(got) == set(WEB)  # every planned instance has exactly one outcome
        for iid, (wave, outcome) in EXPECTED.items():
            assert (got[iid].wave, got[iid].outcome.value) == (wave, outcome), (iid, got[iid])
        for iid in set(WEB) - set(EXPECTED):
            assert got[iid].outcome.value == "patched", (iid, got[iid])
        assert "vanished" in got[MID_INSTALL].error
        assert got[BEFORE_SEND].status_details == "InvalidInstanceId"
        assert got[DENIED].status_details == "AccessDenied"
        assert got[NEVER].status_details == "stale patch state"
        waves = {w.name: w for w in report.waves}
        assert waves["canary"].errors == 0  # the terminated node is not an error
        assert waves["rest"].errors == 1  # only the stale report: not the AccessDenied, not the vanished
        assert waves["rest"].status == "completed"
        assert not fleet.overlaps
        # every controlled reboot was proved over before its verification scan went out
        for inv in fleet.invocations():
            if inv.operation == "Scan" and inv.sent is not None:
                for iid, down, up in fleet.downtimes:
                    assert not (iid == inv.instance_id and down <= inv.sent and (up is None or inv.sent < up))
    outcomes = lambda report: {i.instance_id: (i.wave, i.outcome, i.status_details) for i in report.instances}  # noqa: E731
    assert outcomes(through_aws) == outcomes(direct)
    assert through_aws.status == direct.status
    # what the adapter counted is what the simulator charged, call by call ...
    assert adapter.api_calls() == backing.api_calls()
    # ... and what the simulator charges when driven directly
    on_aws = {k: v for k, v in adapter.api_calls().items() if k not in NOT_SSM}
    assert adapter.api_calls()["PutObject"] == 1  # the emergency's one override file (one platform)
    on_sim = {k: v for k, v in sim.api_calls().items() if k not in HEALTH_APIS}
    assert on_aws == on_sim
    assert adapter.api_calls()["DescribeTargetHealth"] == sim.api_calls()["HealthCheck"]  # one a check
    waits = lambda fleet: {k: v for k, v in fleet.throttled.items() if k not in HEALTH_APIS}  # noqa: E731
    assert sum(sim.throttled.values()) > 0 and waits(sim) == waits(backing)  # throttled alike
    in_report = lambda report: {k: v for k, v in report.api_calls.items() if k not in NOT_SSM}  # noqa: E731
    assert in_report(through_aws) == in_report(direct)  # the window's reports count alike
    assert in_report(aws_cve) == in_report(direct_cve)
