"""EC2 calls: instance tags and state, stopped instances, and controlled reboots.

Mutating: RebootInstances (ec2:RebootInstances).

A call that names an id EC2 does not know (terminated) fails whole with
InvalidInstanceID.NotFound, whose message names the ids: reads leave them out and ask again;
RebootInstances raises InstancesNotFound (nothing was rebooted) for the caller to decide."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from patchwave.fleet import InstancesNotFound, chunks

EC2_IDS_PER_CALL = 200
EC2_PAGE = 1000  # DescribeInstances with filters: MaxResults
NOT_FOUND = "InvalidInstanceID.NotFound"
_ID = re.compile(r"\b(?:i|mi)-[0-9a-z]+\b")


def _not_found(exc: ClientError) -> list[str] | None:
    """The ids an InvalidInstanceID.NotFound names, or None for any other error."""
    error = exc.response.get("Error", {})
    if error.get("Code") != NOT_FOUND:
        return None
    return _ID.findall(error.get("Message", ""))


def _record(instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": instance["State"]["Name"],
        "tags": {t["Key"]: t["Value"] for t in instance.get("Tags", [])},
        "private_ip": instance.get("PrivateIpAddress", ""),
        "platform_details": instance.get("PlatformDetails", ""),
        "root_volume": _root_volume(instance),
    }


def _root_volume(instance: dict[str, Any]) -> str:
    """The EBS volume at the instance's root device (what a rollback restores), or ''."""
    root = instance.get("RootDeviceName")
    for mapping in instance.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root and "Ebs" in mapping:
            return str(mapping["Ebs"].get("VolumeId", ""))
    return ""


def describe(ec2: Any, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Instance id -> {'state', 'tags', 'private_ip', 'platform_details'} for EC2 instances
    (not mi- nodes); ids EC2 no longer knows are left out."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(list(instance_ids), EC2_IDS_PER_CALL):
        wanted = list(chunk)
        while wanted:
            try:
                response = ec2.describe_instances(InstanceIds=wanted)
            except ClientError as exc:
                gone = _not_found(exc)
                if not gone or not set(gone) & set(wanted):
                    raise
                wanted = [i for i in wanted if i not in gone]
                continue
            for reservation in response["Reservations"]:
                for instance in reservation["Instances"]:
                    found[instance["InstanceId"]] = _record(instance)
            break
    return found


def stopped(ec2: Any) -> dict[str, dict[str, Any]]:
    """EC2 instances stopped or stopping: DescribeInstanceInformation does not list them, yet
    a window that targets them must report them (skipped_offline), not lose them."""
    found: dict[str, dict[str, Any]] = {}
    paginator = ec2.get_paginator("describe_instances")
    filters = [{"Name": "instance-state-name", "Values": ["stopped", "stopping"]}]
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": EC2_PAGE}):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                found[instance["InstanceId"]] = _record(instance)
    return found


def reboot(ec2: Any, instance_ids: Sequence[str]) -> None:
    done: list[str] = []
    for chunk in chunks(list(instance_ids)):
        try:
            ec2.reboot_instances(InstanceIds=list(chunk))
        except ClientError as exc:
            gone = _not_found(exc)
            if gone is None:
                raise
            message = exc.response.get("Error", {}).get("Message", NOT_FOUND)
            raise InstancesNotFound("RebootInstances", f"{NOT_FOUND}: {message}", gone, done) from exc
        done.extend(chunk)
