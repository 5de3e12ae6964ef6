"""EC2 calls: instance tags and state, status, and controlled reboots.

Mutating: RebootInstances (ec2:RebootInstances)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patchwave.fleet import chunks

EC2_IDS_PER_CALL = 200


def describe(ec2: Any, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Instance id -> {'state', 'tags', 'private_ip'} for EC2 instances (not mi- nodes)."""
    found: dict[str, dict[str, Any]] = {}
    paginator = ec2.get_paginator("describe_instances")
    for chunk in chunks(list(instance_ids), EC2_IDS_PER_CALL):
        for page in paginator.paginate(InstanceIds=list(chunk)):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    found[instance["InstanceId"]] = {
                        "state": instance["State"]["Name"],
                        "tags": {t["Key"]: t["Value"] for t in instance.get("Tags", [])},
                        "private_ip": instance.get("PrivateIpAddress", ""),
                    }
    return found


def reboot(ec2: Any, instance_ids: Sequence[str]) -> None:
    for chunk in chunks(list(instance_ids)):
        ec2.reboot_instances(InstanceIds=list(chunk))
