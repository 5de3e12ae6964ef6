"""Least privilege: every AWS action patchwave performed anywhere in this test session is
allowed by config/iam-policy.json, and the policy grants nothing patchwave never calls.

(Named to run last: it reads what every earlier test's AWS clients recorded.)"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from tests.conftest import ALL_AWS_COUNTERS

POLICY = json.loads((Path(__file__).resolve().parent.parent / "config" / "iam-policy.json").read_text())
# Calls that need no IAM permission.
UNCONDITIONAL = {"sts:GetCallerIdentity"}
# Operations authorised by an IAM action of another name.
IAM_ACTION = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
}


def allowed_actions() -> list[str]:
    actions: list[str] = []
    for statement in POLICY["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.extend([listed] if isinstance(listed, str) else listed)
    return actions


def allowed(action: str) -> bool:
    action = IAM_ACTION.get(action, action)
    return action in UNCONDITIONAL or any(
        fnmatch.fnmatchcase(action, pattern) for pattern in allowed_actions()
    )


def test_every_recorded_action_is_allowed() -> None:
    performed = set().union(*(counter.actions for counter in ALL_AWS_COUNTERS)) if ALL_AWS_COUNTERS else set()
    # the suite's AWS tests drive the window, baselines and notifications: these must be among them
    assert {
        "ssm:SendCommand",
        "ssm:ListCommands",
        "ssm:DescribeInstancePatchStates",
        "ec2:DescribeInstances",
        "ssm:CreatePatchBaseline",
        "s3:PutObject",
        "sns:Publish",
        "dynamodb:PutItem",
        "dynamodb:CreateTable",
        "s3:GetObject",
        "s3:ListObjectsV2",
        "cloudwatch:DescribeAlarms",
        "ssm:GetCalendarState",
        "ec2:CreateSnapshots",
        "ec2:DeleteSnapshot",
        "ec2:CreateReplaceRootVolumeTask",
    } <= performed, performed
    refused = sorted(a for a in performed if not allowed(a))
    assert not refused, f"config/iam-policy.json does not allow: {refused}"


def test_policy_is_least_privilege() -> None:
    for pattern in allowed_actions():
        assert "*" not in pattern, f"wildcard action {pattern}"
    documented = "\n".join(
        (Path(__file__).resolve().parent.parent / "patchwave" / "aws" / name).read_text()
        for name in (
            "ssm.py",
            "ec2.py",
            "s3.py",
            "sns.py",
            "baselines.py",
            "fleet.py",
            "elbv2.py",
            "dynamodb.py",
            "s3_state.py",
            "organizations.py",
            "members.py",
            "cloudwatch.py",
            "ebs.py",
            "autoscaling.py",
        )
    )
    for pattern in allowed_actions():
        operation = pattern.split(":")[1]
        if pattern.startswith("iam:"):
            continue
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
        assert snake in documented or operation in documented, f"{pattern} is granted but never called"


def test_pass_role_only_for_the_notification_role_and_only_to_ssm() -> None:
    statements = [s for s in POLICY["Statement"] if "iam:PassRole" in json.dumps(s["Action"])]
    assert len(statements) == 1
    (statement,) = statements
    assert statement["Action"] == "iam:PassRole"
    assert statement["Resource"].endswith(":role/patchwave-ssm-notifications")
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}}
