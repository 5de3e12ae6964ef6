"""Baselines as code: diff, apply (idempotent), export; moto in process and over HTTP."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from patchwave.aws.baselines import apply_changes, export, read_account
from patchwave.aws.session import AwsClients
from patchwave.baselines.sync import (
    AccountBaseline,
    AccountState,
    aws_request,
    fingerprint,
    fingerprint_of,
    managed_description,
    plan_changes,
)
from patchwave.cli import app
from patchwave.config.baselines import BaselinesFile
from tests.moto_gaps import PatchGroupLedger

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parent.parent


def session_with_ledger() -> boto3.Session:
    session = boto3.Session(region_name=REGION)
    PatchGroupLedger().install(session)
    return session


def test_request_shape_and_fingerprint(config) -> None:
    (baseline,) = config.baselines.baselines
    request = aws_request(baseline)
    rules = request["ApprovalRules"]["PatchRules"]
    assert rules[0]["ComplianceLevel"] == "CRITICAL" and rules[0]["ApproveAfterDays"] == 0
    assert rules[1]["EnableNonSecurity"] is True
    assert request["RejectedPatches"] == ["system-release.*"]
    assert fingerprint_of(managed_description(baseline)) == fingerprint(baseline)
    changed = baseline.model_copy(update={"rejected_patches": ["kernel*"]})
    assert fingerprint(changed) != fingerprint(baseline)


@mock_aws
def test_apply_creates_tags_and_registers_then_nothing_changes(aws_env, config) -> None:
    session = boto3.Session(region_name=REGION)
    ledger = PatchGroupLedger()
    ledger.install(session)
    clients = AwsClients(session)
    account = read_account(clients.ssm)
    changes = plan_changes(config.baselines, account)
    assert [c.kind for c in changes] == ["create", "register"]
    apply_changes(clients.ssm, config.baselines, account, changes)
    (created,) = read_account(clients.ssm).baselines
    assert created.name == "AmazonLinuxSecAndNonSecBaseline" and created.managed
    checker = boto3.client("ssm", region_name=REGION)  # not patchwave's: its calls are not patchwave's
    found = checker.get_patch_baseline_for_patch_group(
        PatchGroup="Critical", OperatingSystem="AMAZON_LINUX_2023"
    )
    assert found["BaselineId"] == created.baseline_id
    assert ledger.tags[created.baseline_id] == {"managed-by": "patchwave"}
    assert plan_changes(config.baselines, read_account(clients.ssm)) == []


def test_plan_updates_moves_groups_and_leaves_unmanaged_baselines_alone(config) -> None:
    (baseline,) = config.baselines.baselines
    ours = AccountBaseline(
        "pb-00000000000000001", baseline.name, "AMAZON_LINUX_2023", "[patchwave sha256:0000000000000000]"
    )
    theirs = AccountBaseline("pb-00000000000000002", "TheirBaseline", "AMAZON_LINUX_2023", "hand made")
    account = AccountState(
        (ours, theirs),
        {
            ("Critical", "AMAZON_LINUX_2023"): theirs.baseline_id,
            ("Old", "AMAZON_LINUX_2023"): ours.baseline_id,
            ("Other", "AMAZON_LINUX_2023"): theirs.baseline_id,
        },
    )
    changes = {(c.kind, c.baseline, c.detail) for c in plan_changes(config.baselines, account)}
    assert changes == {
        ("update", baseline.name, "its rules or lists differ"),
        ("deregister", baseline.name, "patch group 'Old' (AMAZON_LINUX_2023)"),  # ours, no longer wanted
        ("deregister", "TheirBaseline", "patch group 'Critical' (AMAZON_LINUX_2023)"),  # moves, as configured
        ("register", baseline.name, "patch group 'Critical' (AMAZON_LINUX_2023)"),
    }  # 'Other' belongs to a baseline patchwave does not manage and is not in the config: untouched


def test_update_and_default_go_through_the_real_api_shapes(aws_env, config) -> None:
    data = config.baselines.model_dump(mode="json")
    data["baselines"][0]["default_for_os"] = True
    desired = BaselinesFile.model_validate(data)
    baseline_id = "pb-0123456789abcdef0"
    account = AccountState(
        (AccountBaseline(baseline_id, desired.baselines[0].name, "AMAZON_LINUX_2023", "old"),),
        {("Critical", "AMAZON_LINUX_2023"): baseline_id},
    )
    changes = plan_changes(desired, account)
    assert [c.kind for c in changes] == ["update", "set_default"]
    clients = AwsClients(boto3.Session(region_name=REGION))
    stub = Stubber(clients.ssm)
    stub.add_response("update_patch_baseline", {"BaselineId": baseline_id})
    stub.add_response("add_tags_to_resource", {})
    stub.add_response(
        "register_default_patch_baseline", {"BaselineId": baseline_id}, {"BaselineId": baseline_id}
    )
    with stub:
        done = apply_changes(clients.ssm, desired, account, changes)
    stub.assert_no_pending_responses()
    assert len(done) == 2


def test_export_turns_account_baselines_into_config(aws_env, config) -> None:
    clients = AwsClients(boto3.Session(region_name=REGION))
    stub = Stubber(clients.ssm)
    (baseline,) = config.baselines.baselines
    stub.add_response(
        "describe_patch_baselines",
        {
            "BaselineIdentities": [
                {
                    "BaselineId": "pb-0123456789abcdef0",
                    "BaselineName": baseline.name,
                    "OperatingSystem": "AMAZON_LINUX_2023",
                    "BaselineDescription": managed_description(baseline),
                    "DefaultBaseline": False,
                }
            ]
        },
    )
    stub.add_response(
        "describe_patch_groups",
        {
            "Mappings": [
                {
                    "PatchGroup": "Critical",
                    "BaselineIdentity": {
                        "BaselineId": "pb-0123456789abcdef0",
                        "OperatingSystem": "AMAZON_LINUX_2023",
                    },
                }
            ]
        },
    )
    request = aws_request(baseline) | {"Description": managed_description(baseline)}
    request["ApprovalRules"]["PatchRules"] = [dict(r) for r in request["ApprovalRules"]["PatchRules"]]
    stub.add_response(
        "get_patch_baseline",
        {
            "BaselineId": "pb-0123456789abcdef0",
            **request,
            "CreatedDate": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        },
        {"BaselineId": "pb-0123456789abcdef0"},
    )
    with stub:
        exported = export(clients.ssm)
    again = BaselinesFile.model_validate(exported)  # valid config, equal to what was applied
    assert again.baselines[0] == baseline


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_apply_twice_over_http_then_diff_is_empty(aws_env, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        ledger = PatchGroupLedger()

        def session(settings):  # the real CLI path, plus the ledger for moto's missing call
            made = boto3.Session(region_name=REGION)
            ledger.install(made)
            return made

        monkeypatch.setattr("patchwave.aws.session.make_session", session)
        runner = CliRunner()
        first = runner.invoke(app, ["baselines", "diff"])
        assert first.exit_code == 1 and "create" in first.output and "register" in first.output
        applied = runner.invoke(app, ["baselines", "apply"])
        assert applied.exit_code == 0, applied.output
        assert "2 change(s) applied" in applied.output
        again = runner.invoke(app, ["baselines", "apply"])
        assert again.exit_code == 0 and "nothing to do" in again.output
        final = runner.invoke(app, ["baselines", "diff"])
        assert final.exit_code == 0 and "no changes" in final.output
        listed = boto3.client("ssm", region_name=REGION).describe_patch_baselines(
            Filters=[{"Key": "OWNER", "Values": ["Self"]}]
        )["BaselineIdentities"]
        assert [b["BaselineName"] for b in listed] == ["AmazonLinuxSecAndNonSecBaseline"]  # created once
    finally:
        server.stop()


def test_exported_yaml_is_a_valid_config_file(tmp_path: Path, config) -> None:
    text = yaml.safe_dump({"baselines": [config.baselines.baselines[0].model_dump(mode="json")]})
    assert BaselinesFile.model_validate(yaml.safe_load(text)) == config.baselines
