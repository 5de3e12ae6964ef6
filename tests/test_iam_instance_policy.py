"""What the instances' profile needs beyond AmazonSSMManagedInstanceCore (issue 10, point 8):
the policy in config/ grants exactly the object paths the adapter asks the agent to use."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import yaml

from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.fleet import PatchCommand

ROOT = Path(__file__).resolve().parents[1]
POLICY = json.loads((ROOT / "config" / "iam-instance-policy.json").read_text())


def grants(action: str, resource: str) -> bool:
    for statement in POLICY["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if action in actions and any(fnmatch.fnmatchcase(resource, r) for r in resources):
            return True
    return False


def test_the_instance_policy_covers_the_example_settings_paths(monkeypatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}.items():
        monkeypatch.setenv(name, value)
    example = yaml.safe_load((ROOT / "config" / "aws.example.yaml").read_text())
    example["output"]["cloudwatch_log_group"] = "/patchwave"
    settings = AwsSettings.model_validate(example)
    import boto3

    adapter = AwsFleet(AwsClients(boto3.Session(region_name="eu-west-1")), settings)
    adapter._overrides["x"] = "unused"  # noqa: SLF001 - no S3 upload in this check
    request = adapter._send_request(  # noqa: SLF001 - the request the agent acts on
        PatchCommand(("i-0123456789abcdef0",), "Install", "RebootIfNeeded", "snap", "run-1"), "c"
    )
    bucket, prefix = request["OutputS3BucketName"], request["OutputS3KeyPrefix"]
    assert grants("s3:PutObject", f"arn:aws:s3:::{bucket}/{prefix}/cmd/i-0123456789abcdef0/stdout")
    assert grants("s3:GetEncryptionConfiguration", f"arn:aws:s3:::{bucket}")
    override_bucket = settings.install_override_bucket
    assert grants("s3:GetObject", f"arn:aws:s3:::{override_bucket}/patchwave/install-override/run-1/abc.yaml")
    group = request["CloudWatchOutputConfig"]["CloudWatchLogGroupName"]
    assert grants("logs:PutLogEvents", f"arn:aws:logs:eu-west-1:123456789012:log-group:{group}:log-stream:x")
    assert not grants("s3:GetObject", f"arn:aws:s3:::{bucket}/{prefix}/other")  # nothing broader
