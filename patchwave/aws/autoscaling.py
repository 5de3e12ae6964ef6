"""Auto Scaling calls for the drain (issue 16): which group an instance is in, and Standby
around its install so that scale-in and health replacement leave it alone while it reboots.

Mutating calls and the IAM permission each needs:
- EnterStandby: autoscaling:EnterStandby (on the Auto Scaling group)
- ExitStandby: autoscaling:ExitStandby (on the Auto Scaling group)
Read: DescribeAutoScalingInstances (autoscaling:DescribeAutoScalingInstances), 50 ids a call.

EnterStandby refuses a whole request (ValidationError) when one instance cannot go (not
InService, or the group would drop below its minimum size): the refused request is split and
each instance tried alone, so one refusal names its instance and the others still go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from patchwave.fleet import chunks

STANDBY_IDS_PER_CALL = 20  # EnterStandby / ExitStandby: "up to 20 instances"


def groups_of(autoscaling: Any, instance_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Instance id -> (Auto Scaling group, lifecycle state), for members; 50 ids a call."""
    found: dict[str, tuple[str, str]] = {}
    paginator = autoscaling.get_paginator("describe_auto_scaling_instances")
    for chunk in chunks([i for i in instance_ids if i.startswith("i-")]):
        for page in paginator.paginate(InstanceIds=list(chunk), PaginationConfig={"PageSize": 50}):
            for item in page["AutoScalingInstances"]:
                found[item["InstanceId"]] = (item["AutoScalingGroupName"], item["LifecycleState"])
    return found


def _isolating(call: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    refused: dict[str, str] = {}
    for chunk in chunks(list(instance_ids), STANDBY_IDS_PER_CALL):
        try:
            call(list(chunk))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ValidationError":
                raise
            if len(chunk) == 1:
                refused[chunk[0]] = f"ValidationError: {exc.response['Error'].get('Message', '')}"
                continue
            for iid in chunk:  # one of them spoiled the request: try each alone
                refused.update(_isolating(call, [iid]))
    return refused


def enter_standby(autoscaling: Any, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
    return _isolating(
        lambda ids: autoscaling.enter_standby(
            AutoScalingGroupName=group, InstanceIds=ids, ShouldDecrementDesiredCapacity=True
        ),
        instance_ids,
    )


def exit_standby(autoscaling: Any, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
    return _isolating(
        lambda ids: autoscaling.exit_standby(AutoScalingGroupName=group, InstanceIds=ids), instance_ids
    )
