"""The AWS emulator's answers for EBS snapshots and root volume replacement, from the simulated
fleet's EBS model (``patchwave.sim.ebs``): CreateSnapshots, DescribeSnapshots, DeleteSnapshot,
CreateReplaceRootVolumeTask, DescribeReplaceRootVolumeTasks, and the block device mappings
DescribeInstances adds (RootDeviceName, the root volume's id).

A mixin of the emulator (``self.sim`` is its SimulatedFleet; handlers are ``_<Operation>``,
called after botocore validated the request against the EC2 model). moto 5 implements neither
CreateSnapshots (multi-volume, by instance) nor the replace-root-volume tasks (see
tests/moto_gaps.py), so the adapter's path is tested here. Faithful where a kind double would
not be: snapshots read ``pending`` for minutes and may end ``error``; a task on a snapshot
that is not completed or not of this instance's root lineage is refused (IncorrectState /
InvalidParameterValue); TaskState goes pending, in-progress, then succeeded or failed;
StartTime is a string, as the EC2 model says.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from patchwave.sim.ebs import EbsRefused

if TYPE_CHECKING:
    from patchwave.sim.fleet import SimulatedFleet
    from patchwave.sim.records import SimInstance

ROOT_DEVICE = "/dev/xvda"
DESCRIBE_SNAPSHOTS_PAGE = 1000


def _refused(operation: str, exc: EbsRefused) -> ClientError:
    return ClientError({"Error": {"Code": exc.code, "Message": exc.message}}, operation)


def _tags(specifications: list[dict[str, Any]], resource: str) -> dict[str, str]:
    return {
        t["Key"]: t["Value"]
        for spec in specifications
        if spec.get("ResourceType") == resource
        for t in spec.get("Tags", [])
    }


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class EbsSnapshotsEmulation:
    sim: SimulatedFleet

    def _now(self) -> dt.datetime:  # the emulator's (under its lock)
        raise NotImplementedError

    def block_devices(self, inst: SimInstance) -> dict[str, Any]:
        """What DescribeInstances says of an EC2 instance's volumes (the root first)."""
        volumes = self.sim.ebs.volumes(inst.instance_id, self.sim.spec.behaviour.ebs.volumes_per_instance)
        mappings = [
            {
                "DeviceName": ROOT_DEVICE if root else f"/dev/sd{chr(ord('f') + index)}",
                "Ebs": {"VolumeId": vol},
            }
            for index, (vol, root) in enumerate(volumes)
        ]
        return {"RootDeviceName": ROOT_DEVICE, "RootDeviceType": "ebs", "BlockDeviceMappings": mappings}

    def _CreateSnapshots(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        spec = params["InstanceSpecification"]
        tags = _tags(params.get("TagSpecifications", []), "snapshot")
        try:
            made = self.sim.ebs.create(self.sim, spec["InstanceId"], tags, now)
        except EbsRefused as exc:
            raise _refused("CreateSnapshots", exc) from None
        excluded = set(spec.get("ExcludeDataVolumeIds", []))
        kept = [
            m for m in made if not (m.root and spec.get("ExcludeBootVolume")) and m.volume_id not in excluded
        ]
        for dropped in (m for m in made if m not in kept):
            self.sim.ebs.delete(dropped.snapshot_id)
        return {
            "Snapshots": [
                {
                    "SnapshotId": m.snapshot_id,
                    "VolumeId": m.volume_id,
                    "State": "pending",
                    "StartTime": m.started,
                    "Progress": "",
                    "OwnerId": "123456789012",
                    "Description": params.get("Description", ""),
                    "Tags": _tag_list(m.tags),
                }
                for m in kept
            ]
        }

    def _DescribeSnapshots(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        filters = {f["Name"]: f.get("Values", []) for f in params.get("Filters", [])}
        unknown_filters = [n for n in filters if not (n.startswith("tag:") or n == "tag-key")]
        if unknown_filters:
            raise AssertionError(f"the emulator does not filter snapshots by {unknown_filters}")
        try:
            found = self.sim.ebs.describe(now, filters, params.get("SnapshotIds", []))
        except EbsRefused as exc:
            raise _refused("DescribeSnapshots", exc) from None
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or DESCRIBE_SNAPSHOTS_PAGE)
        page = found[start : start + size]
        answer: dict[str, Any] = {
            "Snapshots": [
                {
                    "SnapshotId": s.snapshot_id,
                    "VolumeId": s.volume_id,
                    "State": s.state,
                    "StateMessage": s.message,
                    "OwnerId": "123456789012",
                    "Tags": _tag_list(dict(s.tags)),
                }
                for s in page
            ]
        }
        if start + size < len(found):
            answer["NextToken"] = str(start + size)
        return answer

    def _DeleteSnapshot(self, params: dict[str, Any]) -> dict[str, Any]:
        self._now()
        try:
            self.sim.ebs.delete(params["SnapshotId"])
        except EbsRefused as exc:
            raise _refused("DeleteSnapshot", exc) from None
        return {}

    def _CreateReplaceRootVolumeTask(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        token = params.get("ClientToken", "")
        ebs = self.sim.ebs
        for task in ebs.tasks.values():  # idempotent per ClientToken
            if token and task.tags.get("emulated:client-token") == token:
                return {"ReplaceRootVolumeTask": self._task_item(task.task_id, now)}
        if "SnapshotId" not in params:
            raise AssertionError("the emulator restores from snapshots only")
        tags = _tags(params.get("TagSpecifications", []), "replace-root-volume-task")
        try:
            task = ebs.replace_root(self.sim, params["InstanceId"], params["SnapshotId"], tags, now)
        except EbsRefused as exc:
            raise _refused("CreateReplaceRootVolumeTask", exc) from None
        if token:
            task.tags["emulated:client-token"] = token
        return {"ReplaceRootVolumeTask": self._task_item(task.task_id, now)}

    def _task_item(self, task_id: str, now: dt.datetime) -> dict[str, Any]:
        task = self.sim.ebs.tasks[task_id]
        return {
            "ReplaceRootVolumeTaskId": task.task_id,
            "InstanceId": task.instance_id,
            "SnapshotId": task.snapshot_id,
            "TaskState": task.state_at(now),
            "StartTime": task.started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "Tags": _tag_list({k: v for k, v in task.tags.items() if not k.startswith("emulated:")}),
        }

    def _DescribeReplaceRootVolumeTasks(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        ids = params.get("ReplaceRootVolumeTaskIds") or list(self.sim.ebs.tasks)
        return {"ReplaceRootVolumeTasks": [self._task_item(t, now) for t in ids if t in self.sim.ebs.tasks]}
