"""Seeding history from Systems Manager (DescribeInstancePatchStates, DescribeInstancePatches,
ListResourceComplianceSummaries) through the AWS adapter, every request validated by botocore's
Stubber against the service model; importing twice counts once; a history store that cannot be
reached never fails a window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.config.history import HistorySettings, StoreSettings
from patchwave.history.opening import open_store
from patchwave.history.seed import import_from_fleet

REGION = "eu-west-1"
NODE = "mi-0123456789abcdef0"
WHEN = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def stub_account(stub: Stubber) -> None:
    stub.add_response(
        "describe_instance_information",
        {
            "InstanceInformationList": [
                {
                    "InstanceId": NODE,
                    "PingStatus": "Online",
                    "PlatformType": "Linux",
                    "PlatformName": "Red Hat Enterprise Linux",
                    "PlatformVersion": "9.4",
                }
            ]
        },
        {"MaxResults": 50},
    )
    stub.add_response(
        "list_tags_for_resource",
        {"TagList": [{"Key": "Patch Group", "Value": "Databases"}]},
        {"ResourceType": "ManagedInstance", "ResourceId": NODE},
    )
    stub.add_response(
        "describe_instance_patch_states",
        {
            "InstancePatchStates": [
                {
                    "InstanceId": NODE,
                    "PatchGroup": "Databases",
                    "BaselineId": "pb-0123456789abcdef0",
                    "OwnerInformation": "dba team",
                    "InstalledCount": 1,
                    "MissingCount": 1,
                    "FailedCount": 0,
                    "Operation": "Scan",
                    "OperationStartTime": WHEN - dt.timedelta(minutes=3),
                    "OperationEndTime": WHEN,
                }
            ]
        },
        {"InstanceIds": [NODE], "MaxResults": 50},
    )
    stub.add_response(
        "describe_instance_patches",
        {
            "Patches": [
                {
                    "Title": "openssl",
                    "KBId": "RHSA-2026:1001",
                    "Classification": "Security",
                    "Severity": "Critical",
                    "State": "MISSING",
                    "InstalledTime": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                },
                {
                    "Title": "bash",
                    "KBId": "RHSA-2026:0900",
                    "Classification": "Bugfix",
                    "Severity": "Moderate",
                    "State": "INSTALLED",
                    "InstalledTime": WHEN - dt.timedelta(days=10),
                },
                {
                    "Title": "vim",
                    "KBId": "RHSA-2026:0800",
                    "Classification": "Bugfix",
                    "Severity": "Low",
                    "State": "NOT_APPLICABLE",
                    "InstalledTime": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
                },
            ]
        },
        {"InstanceId": NODE, "MaxResults": 100},
    )
    stub.add_response(
        "list_resource_compliance_summaries",
        {
            "ResourceComplianceSummaryItems": [
                {
                    "ComplianceType": "Patch",
                    "ResourceType": "ManagedInstance",
                    "ResourceId": NODE,
                    "Status": "NON_COMPLIANT",
                    "OverallSeverity": "CRITICAL",
                    "CompliantSummary": {"CompliantCount": 1},
                    "NonCompliantSummary": {"NonCompliantCount": 1, "SeveritySummary": {"CriticalCount": 1}},
                }
            ]
        },
        {"Filters": [{"Key": "ComplianceType", "Values": ["Patch"], "Type": "EQUAL"}], "MaxResults": 50},
    )


def test_import_from_systems_manager_is_marked_imported_and_counts_once(aws_env, tmp_path: Path) -> None:
    settings = HistorySettings(store=StoreSettings(url=f"sqlite:///{tmp_path / 'h.db'}"))
    for _ in range(2):  # the same reports imported twice: one run
        adapter = AwsFleet(AwsClients(boto3.Session(region_name=REGION)), AwsSettings(region=REGION))
        with Stubber(adapter.clients.ssm) as stub, Stubber(adapter.clients.ec2) as ec2_stub:
            stub_account(stub)
            ec2_stub.add_response(  # stopped EC2 instances, which Systems Manager does not list
                "describe_instances",
                {"Reservations": []},
                {
                    "Filters": [{"Name": "instance-state-name", "Values": ["stopped", "stopping"]}],
                    "MaxResults": 1000,
                },
            )
            run = import_from_fleet(
                adapter, "aws eu-west-1 123456789012", WHEN, settings, settings.store.resolved_url()
            )
            stub.assert_no_pending_responses()
            ec2_stub.assert_no_pending_responses()
    store = open_store(settings)
    (stored,) = store.runs()
    store.close()
    assert stored.run_id == run.run_id and stored.imported and stored.kind == "import"
    (node,) = stored.instances
    assert (node.instance_id, node.patch_group, node.observed_at) == (NODE, "Databases", WHEN)
    by_id = {p.patch_id: p for p in node.patches}
    assert set(by_id) == {"RHSA-2026:1001", "RHSA-2026:0900"}  # NOT_APPLICABLE is not kept
    assert (by_id["RHSA-2026:1001"].state, by_id["RHSA-2026:1001"].severity) == ("MISSING", "CRITICAL")
    assert by_id["RHSA-2026:1001"].installed_time is None
    assert by_id["RHSA-2026:0900"].installed_time == WHEN - dt.timedelta(days=10)
    assert not node.compliant and stored.after["non_compliant"] == 1


def test_cli_import_from_a_simulated_fleet_then_history_shows_it(tmp_path: Path, monkeypatch) -> None:
    from patchwave.cli import app

    url = f"sqlite:///{tmp_path / 'h.db'}"
    runner = CliRunner()
    done = runner.invoke(app, ["history", "import", "--fleet", "sim:config/fleets/demo.yaml", "--url", url])
    assert done.exit_code == 0, done.output
    shown = runner.invoke(app, ["history", "--url", url, "--json"])
    assert shown.exit_code == 0, shown.output
    import json

    summary = json.loads(shown.stdout)
    (run,) = summary["runs"]
    from patchwave.config import load_config
    from patchwave.sim import load_spec, open_simulated

    fleet, _ = open_simulated(load_spec("config/fleets/demo.yaml"), load_config("config").baselines)
    reporting = fleet.patch_states([i.instance_id for i in fleet.list_instances()])
    assert run["imported"] and run["instances"] == len(reporting) > 20  # every node with a report


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--severity", "SEVERE"], "--severity"),
        (["--since", "last tuesday"], "--since"),
        (["--url", "mysql://db/x"], "--url"),
    ],
)
def test_bad_history_arguments_exit_2_with_one_line(args: list[str], field: str, tmp_path: Path) -> None:
    from patchwave.cli import app

    done = CliRunner().invoke(app, ["history", *args])
    assert done.exit_code == 2
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1 and field in lines[0], done.output


def test_bad_history_yaml_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    from patchwave.cli import app

    (tmp_path / "history.yaml").write_text("sla_days: {CRITICAL: -1}\n")
    done = CliRunner().invoke(app, ["history", "--config", str(tmp_path)])
    assert done.exit_code == 2
    assert "history.yaml" in done.output and "sla_days" in done.output
