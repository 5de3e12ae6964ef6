"""The AWS adapter against moto (inventory, tags, baselines, S3, SNS) and botocore's Stubber
(progressions, patch states, throttling, races, chunking), every request validated against the
AWS service models."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from patchwave.aws.fleet import AwsFleet
from patchwave.aws.notify import AwsNotifier
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.fleet import PatchCommand
from patchwave.window.outcomes import Outcome, from_invocation
from tests.aws_emulator import Emulator
from tests.helpers import group, ids, spec, world

REGION = "eu-west-1"


def clients() -> AwsClients:
    return AwsClients(boto3.Session(region_name=REGION))


def fleet(settings: AwsSettings | None = None) -> AwsFleet:
    return AwsFleet(clients(), settings or AwsSettings(region=REGION))


# ---------------------------------------------------------------- moto: inventory and tags
@mock_aws
def test_inventory_joins_ssm_with_ec2_tags_including_spaces(aws_env) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    reservation = ec2.run_instances(
        ImageId=image,
        MinCount=2,
        MaxCount=2,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Patch Group", "Value": "Critical"},
                    {"Key": "Workload", "Value": "Test app"},
                ],
            }
        ],
    )
    instance_ids = [i["InstanceId"] for i in reservation["Instances"]]
    ec2.stop_instances(InstanceIds=[instance_ids[1]])
    adapter = fleet()
    # moto has no DescribeInstanceInformation: answer that one call, let EC2 go to moto. As on a
    # real account, Systems Manager does not list the stopped instance: EC2 does.
    infos = [
        {
            "InstanceId": i,
            "PingStatus": "Online",
            "PlatformType": "Linux",
            "PlatformName": "Amazon Linux",
            "PlatformVersion": "2023",
        }
        for i in instance_ids[:1]
    ]
    infos.append(
        {
            "InstanceId": "mi-0123456789abcdef0",
            "PingStatus": "ConnectionLost",
            "PlatformType": "Linux",
            "PlatformName": "Ubuntu",
            "PlatformVersion": "22.04",
        }
    )
    stub = Stubber(adapter.clients.ssm)
    stub.add_response("describe_instance_information", {"InstanceInformationList": infos}, {"MaxResults": 50})
    stub.add_response(
        "list_tags_for_resource",
        {"TagList": [{"Key": "Workload", "Value": "Test"}]},
        {"ResourceType": "ManagedInstance", "ResourceId": "mi-0123456789abcdef0"},
    )
    with stub:
        found = {i.instance_id: i for i in adapter.list_instances()}
    first, second = found[instance_ids[0]], found[instance_ids[1]]
    assert first.patch_group == "Critical" and first.tags["Workload"] == "Test app"
    assert first.platform == "AMAZON_LINUX_2023" and first.online
    assert second.state == "stopped" and not second.online
    onprem = found["mi-0123456789abcdef0"]
    assert onprem.platform == "UBUNTU" and onprem.state == "n/a" and onprem.tags == {"Workload": "Test"}


# ---------------------------------------------------------------- moto: S3 and SNS
@mock_aws
def test_report_goes_to_s3_and_summary_to_sns(aws_env, tmp_path, config) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="patch-reports", CreateBucketConfiguration={"LocationConstraint": REGION})
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="patchwave")["TopicArn"]
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="ops")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    from tests.test_report_files import sample_report

    report, files = sample_report(tmp_path, config)
    settings = AwsSettings.model_validate(
        {
            "region": REGION,
            "reports": {"s3_bucket": "patch-reports"},
            "notifications": {"sns_topic_arn": topic},
        }
    )
    sent = AwsNotifier(clients(), settings).publish(report, files)
    key = sent["s3-json"].removeprefix("s3://patch-reports/")
    body = json.loads(s3.get_object(Bucket="patch-reports", Key=key)["Body"].read())
    assert body["window"] == report.window and body["schema"] == "patchwave.reports.report/v1"
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert report.status in envelope["Message"] and sent["s3-html"] in envelope["Message"]
    assert envelope["Subject"] == f"patchwave {report.window}: {report.status}"


@mock_aws
def test_install_override_list_is_uploaded_once_as_yaml(aws_env) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="patch-output", CreateBucketConfiguration={"LocationConstraint": REGION})
    settings = AwsSettings.model_validate({"region": REGION, "output": {"s3_bucket": "patch-output"}})
    adapter = fleet(settings)
    command = PatchCommand(
        ("i-0123456789abcdef0",), "Install", "RebootIfNeeded", "snap", "run-1", ("KB1", "KB2")
    )
    request = adapter._send_request(command, "c")
    url = request["Parameters"]["InstallOverrideList"][0]
    assert adapter._send_request(command, "c2")["Parameters"]["InstallOverrideList"][0] == url
    key = url.removeprefix("s3://patch-output/")
    assert (
        s3.get_object(Bucket="patch-output", Key=key)["Body"].read().decode()
        == "patches:\n- id: KB1\n- id: KB2\n"
    )
    assert request["OutputS3BucketName"] == "patch-output"
    assert adapter.api_calls()["PutObject"] == 1


# ---------------------------------------------------------------- Stubber: commands
def stubbed(adapter: AwsFleet) -> tuple[Stubber, Stubber]:
    return Stubber(adapter.clients.ssm), Stubber(adapter.clients.ssm_send)


def invocation_page(command_id: str, status: str, details: str) -> dict:
    return {
        "CommandInvocations": [
            {
                "CommandId": command_id,
                "InstanceId": "i-0123456789abcdef0",
                "Status": status,
                "StatusDetails": details,
            }
        ]
    }


@pytest.mark.parametrize(
    ("final", "details", "outcome"),
    [
        ("Success", "Success", None),
        ("Failed", "Failed", Outcome.FAILED_INSTALL),
        ("TimedOut", "Execution Timed Out", Outcome.TIMED_OUT),
        ("TimedOut", "Delivery Timed Out", Outcome.SKIPPED_OFFLINE),
        ("Failed", "Undeliverable", Outcome.SKIPPED_OFFLINE),
    ],
)
def test_invocation_progressions(aws_env, final: str, details: str, outcome) -> None:
    adapter = fleet()
    ssm, _ = stubbed(adapter)
    command_id = "11111111-2222-3333-4444-555555555555"
    expected = {"CommandId": command_id, "MaxResults": 50}
    for status, status_details in (("Pending", "Pending"), ("InProgress", "InProgress"), (final, details)):
        ssm.add_response(
            "list_command_invocations", invocation_page(command_id, status, status_details), expected
        )
    with ssm:
        seen = [adapter.list_invocations(command_id)[0] for _ in range(3)]
    assert [i.status for i in seen] == ["Pending", "InProgress", final]
    assert [i.finished for i in seen] == [False, False, True]
    assert from_invocation(seen[-1].status, seen[-1].status_details) == outcome


def test_invocation_does_not_exist_race_is_retried(aws_env, monkeypatch) -> None:
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda _: None)
    adapter = fleet()
    ssm, _ = stubbed(adapter)
    command_id = "11111111-2222-3333-4444-555555555555"
    ssm.add_client_error("list_command_invocations", "InvocationDoesNotExist")
    ssm.add_response("list_command_invocations", invocation_page(command_id, "Success", "Success"))
    with ssm:
        assert adapter.list_invocations(command_id)[0].status == "Success"
    ssm.assert_no_pending_responses()


def send_expectation(instance_ids: list[str]) -> dict:
    return {
        "DocumentName": "AWS-RunPatchBaseline",
        "InstanceIds": instance_ids,
        "Parameters": {"Operation": ["Install"], "RebootOption": ["RebootIfNeeded"], "SnapshotId": ["snap"]},
        "Comment": ANY,
        "TimeoutSeconds": 600,
        "MaxConcurrency": str(len(instance_ids)),
        "MaxErrors": str(len(instance_ids)),
    }


def test_throttled_send_is_retried_and_starts_one_command(aws_env, monkeypatch) -> None:
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda _: None)
    adapter = fleet()
    _, send = stubbed(adapter)
    iid = ["i-0123456789abcdef0"]
    send.add_client_error("send_command", "ThrottlingException", http_status_code=400)
    send.add_response(
        "send_command",
        {"Command": {"CommandId": "aaaaaaaa-bbbb-cccc-dddd-000000000001"}},
        send_expectation(iid),
    )
    with send:
        assert (
            adapter.send_patch_command(PatchCommand(tuple(iid), "Install", "RebootIfNeeded", "snap", "r"))
            == "aaaaaaaa-bbbb-cccc-dddd-000000000001"
        )
    send.assert_no_pending_responses()


def test_ambiguous_send_is_found_by_its_comment_not_sent_again(aws_env, monkeypatch) -> None:
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda _: None)
    monkeypatch.setattr("patchwave.aws.fleet.uuid.uuid4", lambda: type("U", (), {"hex": "feedface00"})())
    adapter = fleet()
    ssm, send = stubbed(adapter)
    iid = ["i-0123456789abcdef0"]
    command = PatchCommand(tuple(iid), "Install", "RebootIfNeeded", "snap", "run-7")
    comment = f"{command.comment} feedface"
    send.add_client_error("send_command", "InternalServerError", http_status_code=500)
    ssm.add_response(
        "list_commands",
        {"Commands": [{"CommandId": "aaaaaaaa-bbbb-cccc-dddd-000000000002", "Comment": comment}]},
    )
    with ssm, send:
        assert adapter.send_patch_command(command) == "aaaaaaaa-bbbb-cccc-dddd-000000000002"
    send.assert_no_pending_responses()  # one SendCommand; a second would find no stubbed answer


def test_ambiguous_send_not_found_is_sent_once_more(aws_env, monkeypatch) -> None:
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda _: None)
    adapter = fleet()
    ssm, send = stubbed(adapter)
    iid = ["i-0123456789abcdef0"]
    send.add_client_error("send_command", "InternalServerError", http_status_code=500)
    for _ in range(3):
        ssm.add_response("list_commands", {"Commands": []})
    send.add_response(
        "send_command",
        {"Command": {"CommandId": "aaaaaaaa-bbbb-cccc-dddd-000000000003"}},
        send_expectation(iid),
    )
    with ssm, send:
        assert (
            adapter.send_patch_command(PatchCommand(tuple(iid), "Install", "RebootIfNeeded", "snap", "r"))
            == "aaaaaaaa-bbbb-cccc-dddd-000000000003"
        )
    send.assert_no_pending_responses()  # the failed send and exactly one more
    ssm.assert_no_pending_responses()  # it looked three times before sending again


def test_patch_states_chunk_at_50_and_map_every_count(aws_env) -> None:
    adapter = fleet()
    ssm, _ = stubbed(adapter)
    instance_ids = [f"i-0{n:016x}" for n in range(51)]
    state = {
        "InstanceId": instance_ids[50],
        "PatchGroup": "Critical",
        "BaselineId": "pb-0123456789abcdef0",
        "SnapshotId": "0b9a9c4e-1d2f-4a6b-8c0d-2e4f6a8b0c1d",
        "Operation": "Scan",
        "OperationStartTime": dt.datetime(2026, 11, 29, tzinfo=dt.UTC),
        "OperationEndTime": dt.datetime(2026, 11, 29, tzinfo=dt.UTC),
        "InstalledCount": 5,
        "InstalledOtherCount": 1,
        "InstalledPendingRebootCount": 2,
        "InstalledRejectedCount": 1,
        "MissingCount": 3,
        "FailedCount": 1,
        "NotApplicableCount": 4,
        "CriticalNonCompliantCount": 2,
        "SecurityNonCompliantCount": 3,
        "OtherNonCompliantCount": 1,
    }
    ssm.add_response(
        "describe_instance_patch_states",
        {"InstancePatchStates": []},
        {"InstanceIds": instance_ids[:50], "MaxResults": 50},
    )
    ssm.add_response(
        "describe_instance_patch_states",
        {"InstancePatchStates": [state]},
        {"InstanceIds": instance_ids[50:], "MaxResults": 50},
    )
    with ssm:
        states = adapter.patch_states(instance_ids)
    got = states[instance_ids[50]]
    assert (
        got.installed,
        got.installed_pending_reboot,
        got.missing,
        got.failed,
        got.critical_non_compliant,
    ) == (5, 2, 3, 1, 2)
    assert not got.compliant
    ssm.assert_no_pending_responses()  # two calls: 50 ids, then 1


def test_cancel_and_ping_chunk_at_50(aws_env) -> None:
    adapter = fleet()
    ssm, _ = stubbed(adapter)
    instance_ids = [f"i-0{n:016x}" for n in range(51)]
    ssm.add_response(
        "cancel_command",
        {},
        {"CommandId": "aaaaaaaa-bbbb-cccc-dddd-000000000005", "InstanceIds": instance_ids[:50]},
    )
    ssm.add_response(
        "cancel_command",
        {},
        {"CommandId": "aaaaaaaa-bbbb-cccc-dddd-000000000005", "InstanceIds": instance_ids[50:]},
    )
    with ssm:
        adapter.cancel_command("aaaaaaaa-bbbb-cccc-dddd-000000000005", instance_ids)
    ssm.assert_no_pending_responses()


def test_compliance_summaries_by_severity(aws_env) -> None:
    adapter = fleet()
    ssm, _ = stubbed(adapter)
    page = {
        "ResourceComplianceSummaryItems": [
            {
                "ComplianceType": "Patch",
                "ResourceId": "i-0123456789abcdef0",
                "Status": "NON_COMPLIANT",
                "CompliantSummary": {"CompliantCount": 7},
                "NonCompliantSummary": {
                    "NonCompliantCount": 3,
                    "SeveritySummary": {"CriticalCount": 2, "MediumCount": 1},
                },
            },
            {"ComplianceType": "Patch", "ResourceId": "i-0fffffffffffffff0", "Status": "COMPLIANT"},
        ]
    }
    ssm.add_response(
        "list_resource_compliance_summaries",
        page,
        {"Filters": [{"Key": "ComplianceType", "Values": ["Patch"], "Type": "EQUAL"}], "MaxResults": 50},
    )
    with ssm:
        found = adapter.compliance(["i-0123456789abcdef0"])
    assert found["i-0123456789abcdef0"].non_compliant_by_severity == {"CRITICAL": 2, "MEDIUM": 1}
    assert list(found) == ["i-0123456789abcdef0"]  # the other one is not asked for


def test_controlled_reboot_of_on_premises_node_uses_exit_194(aws_env, config) -> None:
    sim, _ = world(
        spec(
            [
                group("a", ids("e0", 1)),
                {
                    "name": "dc",
                    "ids": ["mi-0123456789abcdef0"],
                    "platform": "REDHAT_ENTERPRISE_LINUX",
                    "on_premises": True,
                    "tags": {"Workload": "Test"},
                },
            ]
        ),
        config.baselines,
    )
    session = boto3.Session(region_name=REGION)
    adapter = AwsFleet(AwsClients(session), AwsSettings(region=REGION))
    emulator = Emulator(sim)
    emulator.install(session)
    adapter.list_instances()
    send = Stubber(adapter.clients.ssm_send)
    send.add_response(
        "send_command",
        {"Command": {"CommandId": "aaaaaaaa-bbbb-cccc-dddd-000000000004"}},
        {
            "DocumentName": "AWS-RunShellScript",
            "InstanceIds": ["mi-0123456789abcdef0"],
            "Parameters": {"commands": ["exit 194"]},
            "Comment": "patchwave controlled reboot",
        },
    )
    with send:
        adapter.reboot([ids("e0", 1)[0], "mi-0123456789abcdef0"])
    send.assert_no_pending_responses()
    assert "RebootInstances" in emulator.calls
