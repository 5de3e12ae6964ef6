"""ELB target health: an instance registered in a target group must be healthy there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
