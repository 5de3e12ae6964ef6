"""One whole window on the AWS adapter: the same flow code, the same outcomes as on the simulator."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from prefect import flow

from flows.patch_window import run_window
from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients, check_credentials
from patchwave.config.aws import AwsSettings
from patchwave.connect import FleetHandle
from patchwave.sim.emulator_elbv2 import TARGET_GROUP
from tests.aws_emulator import Emulator
from tests.helpers import group, ids, spec, window, world

pytestmark = pytest.mark.usefixtures("prefect_harness")

WAVES = [
    {"name": "canary", "select": {"count": 2}, "max_concurrency": "1", "max_errors": "0"},
    {"name": "rest", "max_concurrency": "40%", "max_errors": "30%"},
]


def fleet_spec():
    web, api, lost = ids("d0", 8), ids("d1", 4), ids("d2", 1)
    return spec(
        [
            group("web", web, tags={"Patch Group": "Critical"}),
            group("api", api, platform="UBUNTU"),
            group("lost", lost, ping_status="ConnectionLost"),
            {
                "name": "dc",
                "ids": ["mi-0123456789abcdef0"],
                "platform": "REDHAT_ENTERPRISE_LINUX",
                "on_premises": True,
                "tags": {"Workload": "Test"},
            },
        ],
        failing_ids=[web[5]],
        stuck_ids=[api[2]],
        health_failure_ids=[web[6]],
        reboot_hang_ids=[api[3]],
    )


def run(handle: FleetHandle, tmp_path: Path, name: str):
    win = window(WAVES, timeouts={"install_minutes": 60, "scan_minutes": 20, "reboot_minutes": 15})

    @flow(name=f"window-{name}")
    def go():
        return run_window(handle, win, report_dir=str(tmp_path / name))

    return go()


def test_a_window_on_the_aws_adapter_matches_the_simulator(config, tmp_path: Path) -> None:
    sim, clock = world(fleet_spec(), config.baselines)
    direct = run(FleetHandle(sim, clock, "simulator"), tmp_path, "direct")

    backing, backing_clock = world(fleet_spec(), config.baselines)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    emulator = Emulator(backing)
    emulator.install(session)
    clients = AwsClients(session)
    assert "123456789012" in check_credentials(clients)
    settings = AwsSettings.model_validate(
        {
            "region": "eu-west-1",
            "health": {"target_group_arns": [TARGET_GROUP]},  # the group the emulator answers for health
        }
    )
    aws = AwsFleet(clients, settings, clock=backing_clock)
    through_aws = run(FleetHandle(aws, backing_clock, "aws (emulated)"), tmp_path, "aws")

    outcomes = lambda report: {i.instance_id: (i.wave, i.outcome) for i in report.instances}  # noqa: E731
    assert outcomes(through_aws) == outcomes(direct)
    assert through_aws.status == direct.status
    kinds = {i.outcome.value for i in through_aws.instances}
    assert {
        "patched",
        "failed_install",
        "timed_out",
        "failed_reboot",
        "failed_verification",
        "skipped_offline",
    } <= kinds
    assert {c.snapshot_id for c in backing.sent} == {through_aws.snapshot_id}
    assert not backing.overlaps
    # the report counts the real boto3 calls, made in chunks
    assert through_aws.api_calls["SendCommand"] == len(backing.sent)
    assert "DescribeInstanceInformation" in through_aws.api_calls
    assert "ListTagsForResource" in through_aws.api_calls  # the on-premises node's tags
