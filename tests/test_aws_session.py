"""Sessions: assumed roles, Prefect credentials blocks, endpoints; request options; HTTP probes."""

from __future__ import annotations

import http.server
import threading

import boto3
import pytest
from moto import mock_aws

from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients, check_credentials, make_session
from patchwave.config.aws import AwsSettings
from patchwave.fleet import PatchCommand

REGION = "eu-west-1"


@mock_aws
def test_assumed_role_session(aws_env) -> None:
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="patchwave", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session = make_session(AwsSettings(region=REGION, role_arn=role, external_id="ops"))
    who = check_credentials(AwsClients(session))
    assert "assumed-role/patchwave/patchwave" in who and REGION in who


@pytest.mark.usefixtures("prefect_harness")
@mock_aws
def test_prefect_credentials_block(aws_env) -> None:
    from prefect_aws import AwsCredentials

    AwsCredentials(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret", region_name=REGION).save(
        "patchwave-test", overwrite=True
    )
    session = make_session(AwsSettings(prefect_credentials_block="patchwave-test"))
    assert session.get_credentials().access_key == "AKIAEXAMPLE"
    assert session.region_name == REGION


def test_credentials_block_and_profile_are_exclusive() -> None:
    from patchwave.config.loader import validate
    from patchwave.errors import ConfigError

    with pytest.raises(ConfigError, match="either prefect_credentials_block or profile"):
        validate(AwsSettings, {"prefect_credentials_block": "b", "profile": "p"}, "config/aws.yaml")
    with pytest.raises(ConfigError, match=r"config/aws.yaml: notifications.sns_topic_arn = 'topic'"):
        validate(AwsSettings, {"notifications": {"sns_topic_arn": "topic"}}, "config/aws.yaml")


def test_send_request_carries_output_cloudwatch_and_notifications(aws_env) -> None:
    settings = AwsSettings.model_validate(
        {
            "region": REGION,
            "output": {"s3_bucket": "patch-output", "cloudwatch_log_group": "/patchwave"},
            "notifications": {
                "sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:patchwave",
                "service_role_arn": "arn:aws:iam::123456789012:role/patchwave-ssm-notifications",
            },
        }
    )
    adapter = AwsFleet(AwsClients(boto3.Session(region_name=REGION)), settings)
    request = adapter._send_request(
        PatchCommand(("i-0123456789abcdef0",), "Scan", "NoReboot", "s", "run-9"), "c"
    )
    assert request["OutputS3KeyPrefix"] == "patchwave/command-output/run-9"
    assert request["CloudWatchOutputConfig"] == {
        "CloudWatchLogGroupName": "/patchwave",
        "CloudWatchOutputEnabled": True,
    }
    assert request["ServiceRoleArn"].endswith("role/patchwave-ssm-notifications")
    assert request["NotificationConfig"]["NotificationType"] == "Invocation"
    assert "InstallOverrideList" not in request["Parameters"]  # Scan ignores it


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path.startswith("/ok") else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_http_probe(aws_env) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        for path, healthy in (("ok", True), ("broken", False)):
            settings = AwsSettings.model_validate(
                {
                    "region": REGION,
                    "health": {"http_probe": f"http://127.0.0.1:{port}/{path}?id={{instance_id}}"},
                }
            )
            adapter = AwsFleet(AwsClients(boto3.Session(region_name=REGION)), settings)
            result = adapter.health(["i-0123456789abcdef0"])["i-0123456789abcdef0"]
            assert (result is None) is healthy
            if not healthy:
                assert "503" in result
    finally:
        server.shutdown()
