"""The Fleet port on AWS: Systems Manager and EC2 through boto3.

Every verb chunks by the API's limits. SendCommand is never re-sent blindly: throttling (the
request was refused) is retried; any other failure is ambiguous, so the command is first looked
for by its unique Comment, and only re-sent when it is certainly not there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from patchwave.aws import cloudwatch, ebs, ec2, elbv2, patches, s3, ssm
from patchwave.aws.drain_calls import DrainCalls
from patchwave.aws.instance_patches import describe_instance_patches
from patchwave.aws.platforms import operating_system
from patchwave.aws.session import AwsClients
from patchwave.clock import Clock, WallClock
from patchwave.config.aws import AwsSettings
from patchwave.errors import PatchwaveError
from patchwave.fleet import (
    CommandProgress,
    ComplianceSummary,
    InstancePatch,
    InstancePatchState,
    InstancesNotFound,
    Invocation,
    ManagedInstance,
    PatchCommand,
    PingInfo,
    ResolvedPatch,
    RootVolumeTask,
    SnapshotsStarted,
    VolumeSnapshot,
)

THROTTLING = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
SEVERITIES = {
    "CriticalCount": "CRITICAL",
    "HighCount": "HIGH",
    "MediumCount": "MEDIUM",
    "LowCount": "LOW",
    "InformationalCount": "INFORMATIONAL",
    "UnspecifiedCount": "UNSPECIFIED",
}
COMMANDS_SINCE_MARGIN = dt.timedelta(minutes=5)  # clocks differ: look a little before the oldest
SEND_ATTEMPTS = 4  # ambiguous SendCommand failures tolerated before giving up (each checked first)
REBOOT_DOCUMENTS = {"WINDOWS": ("AWS-RunPowerShellScript", "exit 3010")}
LINUX_REBOOT = ("AWS-RunShellScript", "exit 194")  # the agent reboots the node on exit code 194


def _throttled(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response["Error"]["Code"] in THROTTLING


def _details(text: str) -> str:
    """'Delivery Timed Out' -> 'DeliveryTimedOut', as the rest of patchwave spells them."""
    return text.replace(" ", "")


class AmbiguousSend(PatchwaveError):
    """SendCommand failed in a way that does not say whether it was accepted."""


class AwsFleet(DrainCalls):
    def __init__(self, clients: AwsClients, settings: AwsSettings, clock: Clock | None = None) -> None:
        self.clients = clients
        self.settings = settings
        self.clock = clock or WallClock()
        self._sent_at: dict[str, dt.datetime] = {}
        self._platform: dict[str, str] = {}
        self._private_ip: dict[str, str] = {}
        self._overrides: dict[str, str] = {}

    # ----------------------------------------------------------------- inventory
    def list_instances(self) -> list[ManagedInstance]:
        """Managed nodes (DescribeInstanceInformation), their EC2 state and tags, and the EC2
        instances that are stopped: Systems Manager does not list those, yet a window that
        targets one must report it skipped_offline rather than lose it."""
        infos = list(ssm.instance_information(self.clients.ssm))
        ec2_ids = [i["InstanceId"] for i in infos if i["InstanceId"].startswith("i-")]
        described = ec2.describe(self.clients.ec2, ec2_ids) if ec2_ids else {}
        stopped = ec2.stopped(self.clients.ec2)
        instances: list[ManagedInstance] = []
        for info in infos:
            iid = info["InstanceId"]
            platform = operating_system(
                info.get("PlatformType", ""), info.get("PlatformName", ""), info.get("PlatformVersion", "")
            )
            self._platform[iid] = platform
            if iid in described:
                tags, state = described[iid]["tags"], described[iid]["state"]
                self._private_ip[iid] = described[iid]["private_ip"]
            elif iid.startswith("mi-"):
                tags, state = ssm.managed_instance_tags(self.clients.ssm, iid), "n/a"
                self._private_ip[iid] = info.get("IPAddress", "")
            else:
                continue  # an EC2 instance SSM still lists but EC2 no longer has
            instances.append(
                ManagedInstance(
                    iid, platform, info.get("PingStatus", "Inactive"), state, tags, tags.get("Name", "")
                )
            )
        listed = {i.instance_id for i in instances}
        for iid, found in stopped.items():
            if iid in listed:
                continue
            details = found.get("platform_details", "")
            platform = self._platform.get(iid) or operating_system(
                "Windows" if "windows" in details.lower() else "Linux", details, ""
            )
            instances.append(
                ManagedInstance(
                    iid,
                    platform,
                    "ConnectionLost",
                    found["state"],
                    found["tags"],
                    found["tags"].get("Name", ""),
                )
            )
        return instances

    # ----------------------------------------------------------------- commands
    def _override_url(self, command: PatchCommand) -> str:
        patch_ids = sorted(command.install_override)
        digest = hashlib.sha256("\n".join(patch_ids).encode()).hexdigest()[:16]
        if digest not in self._overrides:
            bucket = self.settings.install_override_bucket or self.settings.output.s3_bucket
            if not bucket:
                raise PatchwaveError(
                    "config/aws.yaml: install_override_bucket (or output.s3_bucket) is needed to "
                    "name patches to install (InstallOverrideList)"
                )
            key = f"patchwave/install-override/{command.run_id}/{digest}.yaml"
            self._overrides[digest] = s3.put_text(
                self.clients.s3, bucket, key, s3.install_override_yaml(patch_ids), "application/x-yaml"
            )
        return self._overrides[digest]

    def _send_request(self, command: PatchCommand, comment: str) -> dict[str, Any]:
        parameters: dict[str, list[str]] = {
            "Operation": [command.operation],
            "RebootOption": [command.reboot_option],
            "SnapshotId": [command.snapshot_id],
        }
        if command.install_override and command.operation == "Install":
            parameters["InstallOverrideList"] = [self._override_url(command)]
        request: dict[str, Any] = {
            "DocumentName": self.settings.document,
            "InstanceIds": list(command.instance_ids),
            "Parameters": parameters,
            "Comment": comment,
            "TimeoutSeconds": self.settings.delivery_timeout_seconds,
            "MaxConcurrency": str(len(command.instance_ids)),
            "MaxErrors": str(len(command.instance_ids)),
        }
        output = self.settings.output
        if output.s3_bucket:
            request["OutputS3BucketName"] = output.s3_bucket
            request["OutputS3KeyPrefix"] = f"{output.s3_key_prefix.strip('/')}/{command.run_id}"
        if output.cloudwatch_log_group:
            request["CloudWatchOutputConfig"] = {
                "CloudWatchLogGroupName": output.cloudwatch_log_group,
                "CloudWatchOutputEnabled": True,
            }
        if command.alarm:  # SSM stops the command itself when this alarm fires (one alarm a command)
            request["AlarmConfiguration"] = {
                "Alarms": [{"Name": command.alarm}],
                "IgnorePollAlarmFailure": False,
            }
        notes = self.settings.notifications
        if notes.sns_topic_arn and notes.service_role_arn:
            request["ServiceRoleArn"] = notes.service_role_arn
            request["NotificationConfig"] = {
                "NotificationArn": notes.sns_topic_arn,
                "NotificationEvents": list(notes.command_events),
                "NotificationType": "Invocation",
            }
        return request

    @retry(
        retry=retry_if_exception(_throttled),
        stop=stop_after_attempt(8),
        wait=wait_exponential(multiplier=0.5, max=20),
        reraise=True,
    )
    def _send_once(self, request: dict[str, Any]) -> str:
        return str(ssm.send_command(self.clients.ssm_send, **request)["CommandId"])

    @retry(
        retry=retry_if_exception(lambda e: isinstance(e, AmbiguousSend)),
        stop=stop_after_attempt(3),
        wait=wait_exponential(multiplier=2, max=10),
        reraise=True,
    )
    def _find_sent(self, comment: str, since: dt.datetime, document: str = "") -> str:
        found = ssm.find_command_by_comment(
            self.clients.ssm, comment, since, document or self.settings.document
        )
        if found is None:
            raise AmbiguousSend(f"command {comment!r} not found (yet)")
        return str(found["CommandId"])

    def find_command(self, comment: str, since: dt.datetime) -> str | None:
        try:
            command_id = self._find_sent(comment, since)  # looked for three times, with back-off
        except AmbiguousSend:
            return None
        self._sent_at.setdefault(command_id, since)
        return command_id

    def send_patch_command(self, command: PatchCommand) -> str:
        comment = command.comment if command.token else f"{command.comment} {uuid.uuid4().hex[:8]}"[:100]
        return self._send_checked(self._send_request(command, comment), comment)

    def _send_checked(self, request: dict[str, Any], comment: str) -> str:
        """Send once; after an ambiguous failure, look for the command by its Comment before
        sending again (SendCommand is never re-sent blindly)."""
        document = str(request["DocumentName"])
        sent_at = self.clock.now()
        for _ in range(SEND_ATTEMPTS):
            try:
                command_id = self._send_once(request)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if exc.response.get("Error", {}).get("Code") == "InvalidInstanceId":
                    message = exc.response["Error"].get("Message", "")
                    raise InstancesNotFound("SendCommand", f"InvalidInstanceId: {message}") from exc
                if _throttled(exc) or status < 500:
                    raise  # refused for certain, even after the throttling retries: nothing started
            except BotoCoreError:
                pass  # a dropped connection: ambiguous too
            else:
                self._sent_at[command_id] = sent_at
                return command_id
            # Ambiguous: the command may have been accepted. Look for it before sending again.
            try:
                command_id = self._find_sent(comment, sent_at - dt.timedelta(minutes=5), document)
            except AmbiguousSend:
                continue  # certainly not there: send again
            self._sent_at[command_id] = sent_at
            return command_id
        raise AmbiguousSend(f"SendCommand {comment!r} failed {SEND_ATTEMPTS} times; nothing was started")

    def command_progress(self, command_ids: Sequence[str]) -> dict[str, CommandProgress]:
        wanted = set(command_ids)
        if not wanted:
            return {}
        known = [self._sent_at[c] for c in wanted if c in self._sent_at]
        since = (min(known) if known else self.clock.now()) - COMMANDS_SINCE_MARGIN
        found: dict[str, CommandProgress] = {}
        for item in ssm.executing_commands(self.clients.ssm, since, self.settings.document):
            if item["CommandId"] in wanted:
                found[item["CommandId"]] = self._progress(item)
        return found  # the others left the executing stage: their invocations tell the rest

    @staticmethod
    def _progress(item: dict[str, Any]) -> CommandProgress:
        return CommandProgress(
            command_id=item["CommandId"],
            status=item["Status"],
            target_count=item.get("TargetCount", 0),
            completed_count=item.get("CompletedCount", 0),
            error_count=item.get("ErrorCount", 0),
        )

    def list_invocations(self, command_id: str) -> list[Invocation]:
        return [
            Invocation(
                command_id, item["InstanceId"], item["Status"], _details(item.get("StatusDetails", ""))
            )
            for item in ssm.invocations(self.clients.ssm, command_id)
        ]

    def cancel_command(self, command_id: str, instance_ids: Sequence[str]) -> None:
        ssm.cancel_command(self.clients.ssm, command_id, instance_ids)

    # ----------------------------------------------------------------- states
    def patch_states(self, instance_ids: Sequence[str]) -> dict[str, InstancePatchState]:
        states: dict[str, InstancePatchState] = {}
        for item in ssm.patch_states(self.clients.ssm, instance_ids):
            states[item["InstanceId"]] = InstancePatchState(
                instance_id=item["InstanceId"],
                patch_group=item.get("PatchGroup", ""),
                baseline_id=item.get("BaselineId", ""),
                snapshot_id=item.get("SnapshotId", ""),
                operation=item.get("Operation", ""),
                operation_end_time=item.get("OperationEndTime"),
                installed=item.get("InstalledCount", 0),
                installed_other=item.get("InstalledOtherCount", 0),
                installed_pending_reboot=item.get("InstalledPendingRebootCount", 0),
                installed_rejected=item.get("InstalledRejectedCount", 0),
                missing=item.get("MissingCount", 0),
                failed=item.get("FailedCount", 0),
                not_applicable=item.get("NotApplicableCount", 0),
                critical_non_compliant=item.get("CriticalNonCompliantCount", 0),
                security_non_compliant=item.get("SecurityNonCompliantCount", 0),
                other_non_compliant=item.get("OtherNonCompliantCount", 0),
            )
        return states

    def compliance(self, instance_ids: Sequence[str]) -> dict[str, ComplianceSummary]:
        wanted = set(instance_ids)
        found: dict[str, ComplianceSummary] = {}
        for item in ssm.patch_compliance_summaries(self.clients.ssm):
            iid = item.get("ResourceId", "")
            if iid not in wanted:
                continue
            severity = item.get("NonCompliantSummary", {}).get("SeveritySummary", {})
            by_severity = {
                level: severity.get(key, 0) for key, level in SEVERITIES.items() if severity.get(key)
            }
            found[iid] = ComplianceSummary(
                instance_id=iid,
                compliant=item.get("Status") == "COMPLIANT",
                compliant_count=item.get("CompliantSummary", {}).get("CompliantCount", 0),
                non_compliant_by_severity=by_severity,
            )
        return found

    def ping_info(self, instance_ids: Sequence[str]) -> dict[str, PingInfo]:
        return {
            i["InstanceId"]: PingInfo(i.get("PingStatus", "Inactive"), i.get("LastPingDateTime"))
            for i in ssm.instance_information(self.clients.ssm, instance_ids)
        }

    # ----------------------------------------------------------------- actions
    def reboot(self, instance_ids: Sequence[str]) -> None:
        ec2_ids = [i for i in instance_ids if i.startswith("i-")]
        if ec2_ids:
            ec2.reboot(self.clients.ec2, ec2_ids)
        for iid in (i for i in instance_ids if i.startswith("mi-")):
            document, line = REBOOT_DOCUMENTS.get(self._platform.get(iid, ""), LINUX_REBOOT)
            try:
                self._send_once(
                    {
                        "DocumentName": document,
                        "InstanceIds": [iid],
                        "Parameters": {"commands": [line]},
                        "Comment": "patchwave controlled reboot",
                    }
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidInstanceId":
                    raise
                raise InstancesNotFound("SendCommand", "InvalidInstanceId", [iid]) from exc

    def health(self, instance_ids: Sequence[str]) -> dict[str, str | None]:
        config = self.settings.health
        result: dict[str, str | None] = dict.fromkeys(instance_ids)
        if config.target_group_arns:
            problems = elbv2.unhealthy_targets(self.clients.elbv2, config.target_group_arns)
            for iid in instance_ids:
                if iid in problems:
                    result[iid] = problems[iid]
        if config.http_probe:
            for iid in instance_ids:
                if result[iid] is None:
                    result[iid] = self._probe(
                        config.http_probe.format(instance_id=iid, private_ip=self._private_ip.get(iid, "")),
                        config.http_timeout_seconds,
                    )
        return result

    @staticmethod
    def _probe(url: str, timeout: float) -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - operator's URL
                return None if 200 <= response.status < 400 else f"HTTP probe {url}: status {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            return f"HTTP probe {url}: {exc}"

    def resolve_patches(self, names: Sequence[str]) -> list[ResolvedPatch]:
        """DescribeAvailablePatches (ssm:DescribeAvailablePatches), in ``aws/patches.py``."""
        return patches.resolve(self.clients.ssm, names)

    def instance_patches(
        self, instance_ids: Sequence[str], install_ids: Sequence[str] | None = None
    ) -> dict[str, list[InstancePatch]]:
        """DescribeInstancePatches (ssm:DescribeInstancePatches), in ``aws/instance_patches.py``."""
        return describe_instance_patches(self.clients.ssm, instance_ids, install_ids)

    def api_calls(self) -> dict[str, int]:
        return dict(self.clients.counter.calls)

    # -- gates: CloudWatch alarms and Change Calendars (patchwave/window/gates.py)
    def alarm_states(self, names: Sequence[str]) -> dict[str, str]:
        """DescribeAlarms (cloudwatch:DescribeAlarms), in ``aws/cloudwatch.py``."""
        return cloudwatch.alarm_states(self.clients.cloudwatch, names)

    def calendar_states(self, names: Sequence[str], at: dt.datetime) -> dict[str, str]:
        """GetCalendarState (ssm:GetCalendarState), one calendar a call, in ``aws/ssm.py``."""
        found = {name: ssm.calendar_state(self.clients.ssm, name, at) for name in names}
        return {name: state for name, state in found.items() if state is not None}

    # ----------------------------------------------------------------- snapshot and rollback (issue 16)
    def create_snapshots(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> SnapshotsStarted:
        """CreateSnapshots (ec2:CreateSnapshots, tagged: ec2:CreateTags), in ``aws/ebs.py``."""
        return ebs.create_snapshots(self.clients.ec2, instance_ids, tags)

    def snapshot_states(self, run_id: str, instance_ids: Sequence[str]) -> dict[str, list[VolumeSnapshot]]:
        return ebs.snapshot_states(self.clients.ec2, run_id, instance_ids)

    def tagged_snapshots(self) -> list[VolumeSnapshot]:
        return ebs.tagged_snapshots(self.clients.ec2)

    def delete_snapshot(self, snapshot_id: str) -> None:
        """DeleteSnapshot (ec2:DeleteSnapshot), in ``aws/ebs.py``."""
        ebs.delete_snapshot(self.clients.ec2, snapshot_id)

    def replace_root_volume(self, instance_id: str, snapshot_id: str, tags: Mapping[str, str]) -> str:
        """CreateReplaceRootVolumeTask (ec2:CreateReplaceRootVolumeTask), in ``aws/ebs.py``; the
        ClientToken is derived from the request, so asking twice starts one task."""
        key = "|".join([instance_id, snapshot_id, *(f"{k}={v}" for k, v in sorted(tags.items()))])
        token = hashlib.sha256(key.encode()).hexdigest()[:40]
        return ebs.replace_root_volume(self.clients.ec2, instance_id, snapshot_id, tags, token)

    def root_volume_tasks(self, task_ids: Sequence[str]) -> dict[str, RootVolumeTask]:
        return ebs.root_volume_tasks(self.clients.ec2, task_ids)
