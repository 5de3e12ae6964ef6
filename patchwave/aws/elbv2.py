"""ELB target health: an instance registered in a target group must be healthy there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError


def unhealthy_targets(elbv2: Any, target_group_arns: Sequence[str]) -> dict[str, str]:
    """Instance id -> reason, for targets not 'healthy' in any of the groups."""
    problems: dict[str, str] = {}
    for arn in target_group_arns:
        for description in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            target = description["Target"]["Id"]
            health = description["TargetHealth"]
            if health["State"] not in ("healthy", "unused"):
                reason = health.get("Reason") or health.get("Description") or ""
                problems[target] = f"target {health['State']} in {arn.rsplit('/', 2)[-2]}: {reason}".strip(
                    ": "
                )
    return problems


# ----------------------------------------------------------------- drain (issue 16)
# Mutating calls and the IAM permission each needs:
# - DeregisterTargets: elasticloadbalancing:DeregisterTargets (on the target group)
# - RegisterTargets: elasticloadbalancing:RegisterTargets (on the target group)
# Reads: DescribeTargetGroups, DescribeTargetHealth, DescribeTargetGroupAttributes.

TARGETS_PER_CALL = 50  # the API documents no limit; 50 keeps each request small, as elsewhere
SERVING = frozenset({"initial", "healthy", "unhealthy", "unavailable"})  # registered, not draining
DELAY_KEY = "deregistration_delay.timeout_seconds"
DEFAULT_DELAY = 300  # AWS's default when the attribute is absent


def instance_target_groups(elbv2: Any) -> list[str]:
    """Every target group of the account and region whose targets are instances."""
    arns: list[str] = []
    for page in elbv2.get_paginator("describe_target_groups").paginate(PaginationConfig={"PageSize": 400}):
        arns.extend(
            g["TargetGroupArn"] for g in page["TargetGroups"] if g.get("TargetType", "instance") == "instance"
        )
    return arns


def registrations(
    elbv2: Any, target_group_arns: Sequence[str], instance_ids: Sequence[str]
) -> list[tuple[str, str, int | None]]:
    """(group, instance, port) of each registration of these instances that takes traffic or
    is about to (initial, healthy, unhealthy): one DescribeTargetHealth per group."""
    wanted = set(instance_ids)
    found: list[tuple[str, str, int | None]] = []
    for arn in target_group_arns:
        for description in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            target = description["Target"]
            if target["Id"] in wanted and description["TargetHealth"]["State"] in SERVING:
                found.append((arn, target["Id"], target.get("Port")))
    return found


def deregistration_delay(elbv2: Any, target_group_arn: str) -> int:
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=target_group_arn)["Attributes"]
    for item in attributes:
        if item["Key"] == DELAY_KEY:
            return int(item["Value"])
    return DEFAULT_DELAY


def _descriptions(targets: Sequence[tuple[str, int | None]]) -> list[dict[str, Any]]:
    return [{"Id": iid, **({"Port": port} if port is not None else {})} for iid, port in targets]


def deregister(elbv2: Any, target_group_arn: str, targets: Sequence[tuple[str, int | None]]) -> None:
    """DeregisterTargets, with each target's port (one registered on a port override and
    deregistered without it stays registered: the call answers 200 and does nothing)."""
    for start in range(0, len(targets), TARGETS_PER_CALL):
        chunk = _descriptions(targets[start : start + TARGETS_PER_CALL])
        elbv2.deregister_targets(TargetGroupArn=target_group_arn, Targets=chunk)


def register(elbv2: Any, target_group_arn: str, targets: Sequence[tuple[str, int | None]]) -> dict[str, str]:
    """RegisterTargets; a request refused for one target (InvalidTarget: not running) is tried
    target by target, so the others are registered. Returns the refused instances."""
    refused: dict[str, str] = {}
    for start in range(0, len(targets), TARGETS_PER_CALL):
        part = targets[start : start + TARGETS_PER_CALL]
        for attempt in [part] if len(part) == 1 else [part, *([t] for t in part)]:
            try:
                elbv2.register_targets(TargetGroupArn=target_group_arn, Targets=_descriptions(attempt))
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("InvalidTarget", "InvalidTargetException"):
                    raise
                if len(attempt) == 1:
                    refused[attempt[0][0]] = (
                        f"{exc.response['Error']['Code']}: {exc.response['Error'].get('Message', '')}"
                    )
                continue
            if len(attempt) > 1:
                break  # the whole request went through
    return refused


def health_of(
    elbv2: Any, target_group_arn: str, targets: Sequence[tuple[str, int | None]]
) -> dict[tuple[str, int | None], tuple[str, str]]:
    """(instance, port) -> (state, reason) of the given targets of one group."""
    found: dict[tuple[str, int | None], tuple[str, str]] = {}
    for start in range(0, len(targets), TARGETS_PER_CALL):
        part = targets[start : start + TARGETS_PER_CALL]
        answer = elbv2.describe_target_health(TargetGroupArn=target_group_arn, Targets=_descriptions(part))
        ports = dict(part)
        for description in answer["TargetHealthDescriptions"]:
            iid = description["Target"]["Id"]
            health = description["TargetHealth"]
            key = (iid, ports.get(iid, description["Target"].get("Port")))
            found[key] = (health["State"], health.get("Reason", ""))
    return found
