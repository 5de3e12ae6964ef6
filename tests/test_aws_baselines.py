"""Baselines as code against an account that behaves like one: diff reads the account's own
fields (a console edit is drift), export -> apply -> diff round-trips every field, Replace=true
nulls what it is not sent, and any AWS error is one line and exit 2. The account is
``tests.moto_gaps.BaselineAccount`` (moto has no GetPatchBaseline or UpdatePatchBaseline):
every request is validated by botocore against the service model first."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import botocore.loaders
import pytest
import yaml
from typer.testing import CliRunner

from patchwave.aws.baselines import apply_changes, read_account
from patchwave.aws.platforms import operating_system
from patchwave.aws.session import AwsClients
from patchwave.baselines.catalog import FILTER_KEYS
from patchwave.baselines.sync import AccountBaseline, AccountState, aws_request, plan_changes
from patchwave.cli import app
from patchwave.config.baselines import Baseline, BaselinesFile
from tests.moto_gaps import BaselineAccount

REGION = "eu-west-1"

# A baseline with every field CreatePatchBaseline takes, one for Linux and one for Windows.
EVERYTHING = {
    "Name": "EverythingLinux",
    "OperatingSystem": "AMAZON_LINUX_2023",
    "Description": "made in the console",
    "GlobalFilters": {"PatchFilters": [{"Key": "PRODUCT", "Values": ["AmazonLinux2023"]}]},
    "ApprovalRules": {
        "PatchRules": [
            {
                "PatchFilterGroup": {
                    "PatchFilters": [
                        {"Key": "CLASSIFICATION", "Values": ["Security"]},
                        {"Key": "SEVERITY", "Values": ["Critical", "Important"]},
                    ]
                },
                "ComplianceLevel": "CRITICAL",
                "ApproveAfterDays": 3,
                "EnableNonSecurity": False,
            },
            {
                "PatchFilterGroup": {"PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Bugfix"]}]},
                "ComplianceLevel": "LOW",
                "ApproveUntilDate": "2026-11-15",
                "EnableNonSecurity": True,
            },
        ]
    },
    "ApprovedPatches": ["kernel.x86_64"],
    "ApprovedPatchesComplianceLevel": "HIGH",
    "ApprovedPatchesEnableNonSecurity": True,
    "RejectedPatches": ["system-release.*"],
    "RejectedPatchesAction": "BLOCK",
    "Sources": [
        {
            "Name": "internal-mirror",
            "Products": ["AmazonLinux2023"],
            "Configuration": "[main]\nname=mirror\nbaseurl=https://mirror.example\nenabled=1",
        }
    ],
}
EVERYTHING_WINDOWS = {
    "Name": "EverythingWindows",
    "OperatingSystem": "WINDOWS",
    "Description": "windows too",
    "GlobalFilters": {"PatchFilters": [{"Key": "PATCH_SET", "Values": ["OS"]}]},
    "ApprovalRules": {
        "PatchRules": [
            {
                "PatchFilterGroup": {"PatchFilters": [{"Key": "MSRC_SEVERITY", "Values": ["Critical"]}]},
                "ComplianceLevel": "CRITICAL",
                "ApproveAfterDays": 7,
            }
        ]
    },
    "ApprovedPatches": ["KB5066835"],
    "ApprovedPatchesComplianceLevel": "MEDIUM",
    "RejectedPatches": ["KB890830"],
    "RejectedPatchesAction": "ALLOW_AS_DEPENDENCY",
    "AvailableSecurityUpdatesComplianceStatus": "NON_COMPLIANT",
}

EVERYTHING_UBUNTU = {
    "Name": "EverythingUbuntu",
    "OperatingSystem": "UBUNTU",
    "Description": "no approval delay on Ubuntu",
    "GlobalFilters": {"PatchFilters": [{"Key": "PRODUCT", "Values": ["Ubuntu22.04"]}]},
    "ApprovalRules": {
        "PatchRules": [
            {
                "PatchFilterGroup": {
                    "PatchFilters": [{"Key": "PRIORITY", "Values": ["Required", "Important"]}]
                },
                "ComplianceLevel": "HIGH",
                "EnableNonSecurity": True,
            }
        ]
    },
    "ApprovedPatches": ["openssl"],
    "ApprovedPatchesComplianceLevel": "CRITICAL",
    "ApprovedPatchesEnableNonSecurity": False,
    "RejectedPatches": ["linux-image-*"],
    "RejectedPatchesAction": "BLOCK",
    "Sources": [
        {
            "Name": "ubuntu-mirror",
            "Products": ["Ubuntu22.04"],
            "Configuration": "deb http://mirror.example jammy main",
        }
    ],
}
EVERYBODY = (EVERYTHING, EVERYTHING_WINDOWS, EVERYTHING_UBUNTU)


def account_session() -> tuple[boto3.Session, BaselineAccount]:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name=REGION)
    account = BaselineAccount()
    account.install(session)
    return session, account


@pytest.fixture
def cli_account(aws_env, monkeypatch: pytest.MonkeyPatch) -> tuple[boto3.Session, BaselineAccount]:
    """The real CLI path (make_session -> AwsClients) against one account double."""
    session, account = account_session()
    monkeypatch.setattr("patchwave.aws.session.make_session", lambda settings: session)
    return session, account


def write_config(folder: Path, baselines: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "baselines.yaml").write_text(yaml.safe_dump(baselines, sort_keys=False))
    (folder / "windows.yaml").write_text("windows: []\n")
    return folder


def test_the_request_carries_every_field(config) -> None:
    (baseline,) = config.baselines.baselines
    request = aws_request(baseline)
    rules = request["ApprovalRules"]["PatchRules"]
    assert rules[0]["ComplianceLevel"] == "CRITICAL" and rules[0]["ApproveAfterDays"] == 0
    assert rules[1]["EnableNonSecurity"] is True
    assert request["RejectedPatches"] == ["system-release.*"]
    # left out when empty: UpdatePatchBaseline with Replace=true nulls what it is not sent
    assert "GlobalFilters" not in request and "Sources" not in request
    assert "[patchwave" not in request["Description"]  # no fingerprint: drift is read from the fields


def test_apply_creates_tags_and_registers_then_nothing_changes(aws_env, config) -> None:
    session, account = account_session()
    clients = AwsClients(session)
    state = read_account(clients.ssm)
    changes = plan_changes(config.baselines, state)
    assert [c.kind for c in changes] == ["create", "register"]
    apply_changes(clients.ssm, config.baselines, state, changes)
    (created,) = read_account(clients.ssm).baselines
    assert created.name == "AmazonLinuxSecAndNonSecBaseline" and created.managed
    assert account.groups[("Critical", "AMAZON_LINUX_2023")] == created.baseline_id
    assert account.tags[created.baseline_id] == {"managed-by": "patchwave"}
    assert plan_changes(config.baselines, read_account(clients.ssm)) == []


def test_a_console_edit_of_a_rule_is_drift(cli_account, config, tmp_path: Path) -> None:
    session, account = cli_account
    runner = CliRunner()
    assert runner.invoke(app, ["baselines", "apply"]).exit_code == 0
    clean = runner.invoke(app, ["baselines", "diff"])
    assert clean.exit_code == 0 and "no changes" in clean.output
    # someone edits the first rule in the console: 0 days becomes 14 (description untouched)
    console = session.client("ssm")
    (baseline_id,) = account.baselines
    rules = console.get_patch_baseline(BaselineId=baseline_id)["ApprovalRules"]
    rules["PatchRules"][0]["ApproveAfterDays"] = 14
    console.update_patch_baseline(BaselineId=baseline_id, ApprovalRules=rules)
    drift = runner.invoke(app, ["baselines", "diff"])
    assert drift.exit_code == 1, drift.output
    assert "update     AmazonLinuxSecAndNonSecBaseline: ApprovalRules differ" in drift.output
    fixed = runner.invoke(app, ["baselines", "apply"])
    assert fixed.exit_code == 0 and "1 change(s) applied" in fixed.output
    after = console.get_patch_baseline(BaselineId=baseline_id)["ApprovalRules"]["PatchRules"][0]
    assert after["ApproveAfterDays"] == 0
    assert runner.invoke(app, ["baselines", "diff"]).exit_code == 0


def test_export_apply_diff_round_trips_every_field(cli_account, tmp_path: Path) -> None:
    session, account = cli_account
    console = session.client("ssm")
    made = {}
    for fields in EVERYBODY:
        made[fields["Name"]] = console.create_patch_baseline(**fields)["BaselineId"]
    console.register_patch_baseline_for_patch_group(BaselineId=made["EverythingLinux"], PatchGroup="Web")
    console.register_default_patch_baseline(BaselineId=made["EverythingWindows"])
    before = {i: console.get_patch_baseline(BaselineId=i) for i in made.values()}

    runner = CliRunner()
    exported = runner.invoke(app, ["baselines", "export", "-o", str(tmp_path / "exported.yaml")])
    assert exported.exit_code == 0, exported.output
    folder = write_config(tmp_path / "config", yaml.safe_load((tmp_path / "exported.yaml").read_text()))
    adopted = BaselinesFile.model_validate(yaml.safe_load((folder / "baselines.yaml").read_text()))
    assert {b.name for b in adopted.baselines} == {f["Name"] for f in EVERYBODY}

    first = runner.invoke(app, ["baselines", "diff", "--config", str(folder)])
    assert first.exit_code == 1  # the fields match; only the managed-by tag is missing
    assert "same fields (not tagged managed-by=patchwave yet)" in first.output
    applied = runner.invoke(app, ["baselines", "apply", "--config", str(folder)])
    assert applied.exit_code == 0, applied.output
    assert account.calls.count("UpdatePatchBaseline") == len(EVERYBODY)
    after = {i: console.get_patch_baseline(BaselineId=i) for i in made.values()}
    for baseline_id, fields in before.items():
        for key in {k for f in EVERYBODY for k in f}:
            assert after[baseline_id].get(key) == fields.get(key), key  # nothing nulled or changed
    final = runner.invoke(app, ["baselines", "diff", "--config", str(folder)])
    assert final.exit_code == 0 and "no changes" in final.output


def test_replace_true_nulls_what_is_not_sent(aws_env) -> None:
    """What the account does, and why patchwave sends every field."""
    session, account = account_session()
    ssm = session.client("ssm")
    baseline_id = ssm.create_patch_baseline(**EVERYTHING)["BaselineId"]
    ssm.update_patch_baseline(BaselineId=baseline_id, Replace=True, Description="only this")
    left = ssm.get_patch_baseline(BaselineId=baseline_id)
    assert "GlobalFilters" not in left and "Sources" not in left and "ApprovalRules" not in left
    assert left["Description"] == "only this"


def test_plan_updates_moves_groups_and_leaves_unmanaged_baselines_alone(config) -> None:
    (baseline,) = config.baselines.baselines
    same = aws_request(baseline)
    ours = AccountBaseline("pb-00000000000000001", baseline.name, "AMAZON_LINUX_2023", same, managed=True)
    theirs = AccountBaseline("pb-00000000000000002", "TheirBaseline", "AMAZON_LINUX_2023", {}, managed=False)
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
        ("deregister", baseline.name, "patch group 'Old' (AMAZON_LINUX_2023)"),  # ours, no longer wanted
        ("deregister", "TheirBaseline", "patch group 'Critical' (AMAZON_LINUX_2023)"),  # moves, as configured
        ("register", baseline.name, "patch group 'Critical' (AMAZON_LINUX_2023)"),
    }  # 'Other' belongs to a baseline patchwave does not manage and is not in the config: untouched
    edited = dict(same, GlobalFilters={"PatchFilters": [{"Key": "SEVERITY", "Values": ["Critical"]}]})
    drifted = AccountState(
        (AccountBaseline(ours.baseline_id, baseline.name, "AMAZON_LINUX_2023", edited, True),), {}
    )
    (update, *_) = plan_changes(config.baselines, drifted)
    assert (update.kind, update.detail) == ("update", "GlobalFilters differ")


def test_an_aws_error_in_apply_is_one_line_exit_2_saying_what_was_done(cli_account) -> None:
    _, account = cli_account
    account.fail["RegisterPatchBaselineForPatchGroup"] = ("AccessDeniedException", "not authorized")
    result = CliRunner().invoke(app, ["baselines", "apply"])
    assert result.exit_code == 2
    assert "applied: create     AmazonLinuxSecAndNonSecBaseline" in result.output
    assert "not applied: register   AmazonLinuxSecAndNonSecBaseline: patch group 'Critical'" in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ["error: RegisterPatchBaselineForPatchGroup: AccessDeniedException: not authorized"]


@pytest.mark.parametrize("operation", ["DescribePatchBaselines", "GetPatchBaseline", "ListTagsForResource"])
def test_an_aws_error_in_diff_or_export_is_one_line_exit_2(cli_account, operation: str) -> None:
    session, account = cli_account
    session.client("ssm").create_patch_baseline(**EVERYTHING)
    account.fail[operation] = ("ThrottlingException", "Rate exceeded")
    for command in (["baselines", "diff"], ["baselines", "export"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert (
            result.output.strip().splitlines()[-1]
            == f"error: {operation}: ThrottlingException: Rate exceeded"
        )


def test_debian_and_ubuntu_rules_take_no_approval_delay(tmp_path: Path) -> None:
    rule = {"filters": {"PRIORITY": ["Required"]}, "approve_after_days": 7}
    folder = write_config(
        tmp_path,
        {"baselines": [{"name": "UbuntuWeb", "operating_system": "UBUNTU", "approval_rules": [rule]}]},
    )
    result = CliRunner().invoke(app, ["validate", "--config", str(folder)])
    assert result.exit_code == 2
    assert "approval_rules[0]: UBUNTU rules take no approve_after_days" in result.output
    ok = Baseline.model_validate(
        {
            "name": "DebianWeb",
            "operating_system": "DEBIAN",
            "approval_rules": [{"filters": {"PRIORITY": ["Required"]}}],
        }
    )
    assert "ApproveAfterDays" not in aws_request(ok)["ApprovalRules"]["PatchRules"][0]


def test_filter_keys_are_the_service_models() -> None:
    model = botocore.loaders.Loader().load_service_model("ssm", "service-2")
    keys = set(model["shapes"]["PatchFilterKey"]["enum"])
    assert all(allowed <= keys for allowed in FILTER_KEYS.values())
    assert "PATCH_SET" in FILTER_KEYS["WINDOWS"]
    with pytest.raises(ValueError, match="'PATCH_SET' is not a filter for AMAZON_LINUX_2023"):
        Baseline.model_validate(
            {
                "name": "x-linux",
                "operating_system": "AMAZON_LINUX_2023",
                "global_filters": {"PATCH_SET": ["OS"]},
            }
        )
    assert set(FILTER_KEYS) <= set(model["shapes"]["OperatingSystem"]["enum"])


def test_amazon_linux_1_is_amazon_linux() -> None:
    assert operating_system("Linux", "Amazon Linux AMI", "2018.03") == "AMAZON_LINUX"
    assert operating_system("Linux", "Amazon Linux", "2") == "AMAZON_LINUX_2"
    assert operating_system("Linux", "Amazon Linux", "2023") == "AMAZON_LINUX_2023"


def test_exported_yaml_is_a_valid_config_file(config) -> None:
    text = yaml.safe_dump({"baselines": [config.baselines.baselines[0].model_dump(mode="json")]})
    assert BaselinesFile.model_validate(yaml.safe_load(text)) == config.baselines
    assert json.loads(json.dumps(aws_request(config.baselines.baselines[0])))  # serialisable as sent
