"""EBS snapshots and root volume replacement: pre-patch snapshots and rollback.

Mutating, each with its IAM permission (config/iam-policy.json, scoped by tag where IAM can):
- CreateSnapshots (ec2:CreateSnapshots; the snapshots are tagged at creation, which needs
  ec2:CreateTags with ec2:CreateAction = CreateSnapshots, and the request must carry the
  ``patchwave:run-id`` tag: aws:RequestTag);
- DeleteSnapshot (ec2:DeleteSnapshot, only on snapshots carrying ``patchwave:delete-after``:
  aws:ResourceTag);
- CreateReplaceRootVolumeTask (ec2:CreateReplaceRootVolumeTask, the snapshot only when it
  carries ``patchwave:run-id``; the task is tagged at creation: ec2:CreateTags with
  ec2:CreateAction = CreateReplaceRootVolumeTask).
Reads: DescribeSnapshots, DescribeReplaceRootVolumeTasks (ec2:Describe*, no resource scoping).

CreateSnapshots takes one instance per call (its InstanceSpecification), by the API's design;
the root volume is told apart by DescribeInstances (RootDeviceName, BlockDeviceMappings), one
call per 200 instances, because a snapshot does not say which device it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from patchwave.aws.ec2 import describe
from patchwave.fleet import RootVolumeRefused, RootVolumeTask, SnapshotsStarted, VolumeSnapshot, chunks

TAG_RUN = "patchwave:run-id"
TAG_INSTANCE = "patchwave:instance-id"
TAG_DELETE_AFTER = "patchwave:delete-after"
ON_PREMISES = "an on-premises node has no EBS volumes to snapshot"


def _tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', '')}"


def _snapshot(item: dict[str, Any], instance_id: str, root_volume: str = "") -> VolumeSnapshot:
    tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
    return VolumeSnapshot(
        snapshot_id=item["SnapshotId"],
        instance_id=tags.get(TAG_INSTANCE, instance_id),
        volume_id=item.get("VolumeId", ""),
        root=bool(root_volume) and item.get("VolumeId") == root_volume,
        state=item.get("State", "pending"),
        message=item.get("StateMessage", ""),
        tags=tags,
    )


def create_snapshots(ec2: Any, instance_ids: Sequence[str], tags: Mapping[str, str]) -> SnapshotsStarted:
    """Snapshot every EBS volume of each instance, tagged; instances EC2 no longer knows, or
    without an EBS root volume, or whose request fails, are refused (with the error)."""
    described = describe(ec2, [i for i in instance_ids if i.startswith("i-")])
    taken: dict[str, tuple[VolumeSnapshot, ...]] = {}
    refused: dict[str, str] = {}
    for instance_id in instance_ids:
        if not instance_id.startswith("i-"):
            refused[instance_id] = ON_PREMISES
            continue
        root = described.get(instance_id, {}).get("root_volume", "")
        if instance_id not in described:
            refused[instance_id] = (
                f"InvalidInstanceID.NotFound: the instance ID '{instance_id}' does not exist"
            )
            continue
        if not root:
            refused[instance_id] = "no EBS root volume to snapshot (instance store)"
            continue
        run = tags.get(TAG_RUN, "")
        try:
            response = ec2.create_snapshots(
                InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": False},
                Description=f"patchwave pre-patch snapshot of {instance_id} (run {run})"[:255],
                TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": _tags({**tags, TAG_INSTANCE: instance_id})}
                ],
            )
        except ClientError as exc:
            refused[instance_id] = _error(exc)
            continue
        taken[instance_id] = tuple(_snapshot(s, instance_id, root) for s in response.get("Snapshots", []))
    return SnapshotsStarted(taken, refused)


def _pages(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    paginator = ec2.get_paginator("describe_snapshots")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(OwnerIds=["self"], Filters=filters, PaginationConfig={"PageSize": 1000}):
        found.extend(page.get("Snapshots", []))
    return found


def snapshot_states(ec2: Any, run_id: str, instance_ids: Sequence[str]) -> dict[str, list[VolumeSnapshot]]:
    """A run's snapshots of these instances (by tag; 50 instance ids a filter)."""
    found: dict[str, list[VolumeSnapshot]] = {}
    for chunk in chunks(list(instance_ids)):
        filters = [
            {"Name": f"tag:{TAG_RUN}", "Values": [run_id]},
            {"Name": f"tag:{TAG_INSTANCE}", "Values": list(chunk)},
        ]
        for item in _pages(ec2, filters):
            snapshot = _snapshot(item, "")
            found.setdefault(snapshot.instance_id, []).append(snapshot)
    return found


def tagged_snapshots(ec2: Any) -> list[VolumeSnapshot]:
    """Every snapshot of this account carrying a delete-after tag."""
    return [_snapshot(item, "") for item in _pages(ec2, [{"Name": "tag-key", "Values": [TAG_DELETE_AFTER]}])]


def delete_snapshot(ec2: Any, snapshot_id: str) -> None:
    ec2.delete_snapshot(SnapshotId=snapshot_id)


def replace_root_volume(
    ec2: Any, instance_id: str, snapshot_id: str, tags: Mapping[str, str], token: str
) -> str:
    """Start the task; ``token`` (ClientToken) makes asking twice start it once."""
    try:
        response = ec2.create_replace_root_volume_task(
            InstanceId=instance_id,
            SnapshotId=snapshot_id,
            ClientToken=token,
            TagSpecifications=[{"ResourceType": "replace-root-volume-task", "Tags": _tags(tags)}],
        )
    except ClientError as exc:
        raise RootVolumeRefused(_error(exc)) from None
    return str(response["ReplaceRootVolumeTask"]["ReplaceRootVolumeTaskId"])


def _started(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def root_volume_tasks(ec2: Any, task_ids: Sequence[str]) -> dict[str, RootVolumeTask]:
    found: dict[str, RootVolumeTask] = {}
    for chunk in chunks(list(task_ids)):
        response = ec2.describe_replace_root_volume_tasks(ReplaceRootVolumeTaskIds=list(chunk))
        for item in response.get("ReplaceRootVolumeTasks", []):
            task_id = item["ReplaceRootVolumeTaskId"]
            found[task_id] = RootVolumeTask(
                task_id,
                item.get("InstanceId", ""),
                item.get("TaskState", "pending"),
                _started(item.get("StartTime")),
            )
    return found
