"""The Fleet port: the few verbs a patch run needs, and the records they exchange.

Flows and the domain see only this protocol. ``patchwave.sim`` implements it in process with a
seeded fleet; ``patchwave.aws`` implements it with boto3. Each verb maps onto Systems Manager
calls that work in chunks of 50 instance ids, so that the number of API calls a run makes is
the same, to the call, on the simulator and on AWS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from patchwave.errors import PatchwaveError

PingStatus = Literal["Online", "ConnectionLost", "Inactive"]
PatchOperation = Literal["Scan", "Install"]
RebootOption = Literal["RebootIfNeeded", "NoReboot"]

# Invocation statuses as ListCommandInvocations reports them.
TERMINAL_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
ACTIVE_STATUSES = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})

MAX_IDS_PER_CALL = 50


@dataclass(frozen=True, slots=True)  # slots: held by the thousand (issue 13, memory)
class ManagedInstance:
    """A node Systems Manager manages: an EC2 instance (i-) or an on-premises node (mi-)."""

    instance_id: str
    platform: str
    ping_status: str
    state: str = "running"
    tags: Mapping[str, str] = field(default_factory=dict)
    name: str = ""

    @property
    def patch_group(self) -> str | None:
        """The value of tag ``Patch Group`` (or ``PatchGroup``): case-sensitive keys."""
        return self.tags.get("Patch Group", self.tags.get("PatchGroup"))

    @property
    def online(self) -> bool:
        return self.ping_status == "Online" and self.state in ("running", "n/a")


@dataclass(frozen=True)
class PingInfo:
    """What DescribeInstanceInformation says of a node's agent. PingStatus alone proves
    little: it stays Online for minutes after a reboot began, because it is derived from the
    agent's last ping (``last_ping``, LastPingDateTime)."""

    status: str
    last_ping: dt.datetime | None


class InstancesNotFound(PatchwaveError):
    """A request named an instance the service no longer knows (terminated): SendCommand
    (InvalidInstanceId) and EC2 (InvalidInstanceID.NotFound) refuse the whole request, so
    nothing in it started and the rest may be sent again. ``instance_ids`` are the ids the
    error names, when it names any (SendCommand's does not)."""

    def __init__(
        self, operation: str, message: str, instance_ids: Sequence[str] = (), done: Sequence[str] = ()
    ) -> None:
        self.operation = operation
        self.instance_ids = tuple(instance_ids)
        self.done = tuple(done)  # ids an earlier call of the same verb did act on (earlier chunks)
        super().__init__(f"{operation}: {message}")


class RootVolumeRefused(PatchwaveError):
    """EC2 refused a replace-root-volume task (the snapshot is not of this instance's root
    volume, not completed, or a task already runs there): nothing was started."""


@dataclass(frozen=True)
class PatchCommand:
    """One AWS-RunPatchBaseline SendCommand, on at most 50 instances."""

    instance_ids: tuple[str, ...]
    operation: PatchOperation
    reboot_option: RebootOption
    snapshot_id: str
    run_id: str
    install_override: tuple[str, ...] = ()
    timeout_seconds: int = 7200

    def __post_init__(self) -> None:
        if not 1 <= len(self.instance_ids) <= MAX_IDS_PER_CALL:
            raise ValueError(f"a command takes 1 to {MAX_IDS_PER_CALL} instance ids")

    token: str = ""  # unique per command: written to the ledger before the command is sent
    alarm: str = ""  # the CloudWatch alarm SSM itself watches (AlarmConfiguration takes one)

    @property
    def comment(self) -> str:
        """Carried in SendCommand's Comment so an ambiguous send, or one a killed run may or
        may not have made, can be found again (ListCommands, by its unique token)."""
        return f"patchwave run {self.run_id} {self.operation}" + (f" {self.token}" if self.token else "")


@dataclass(frozen=True)
class CommandProgress:
    """Command-level counters (ListCommands): cheap to read for many commands at once."""

    command_id: str
    status: str
    target_count: int
    completed_count: int
    error_count: int


@dataclass(frozen=True, slots=True)  # slots: held by the thousand (issue 13, memory)
class Invocation:
    """One instance's part of a command (ListCommandInvocations)."""

    command_id: str
    instance_id: str
    status: str
    status_details: str

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)  # slots: held by the thousand (issue 13, memory)
class InstancePatchState:
    """What DescribeInstancePatchStates reports for one instance after its last operation."""

    instance_id: str
    patch_group: str
    baseline_id: str
    snapshot_id: str
    operation: str
    operation_end_time: dt.datetime | None
    installed: int = 0
    installed_other: int = 0
    installed_pending_reboot: int = 0
    installed_rejected: int = 0
    missing: int = 0
    failed: int = 0
    not_applicable: int = 0
    critical_non_compliant: int = 0
    security_non_compliant: int = 0
    other_non_compliant: int = 0

    @property
    def compliant(self) -> bool:
        return (self.missing + self.failed + self.installed_pending_reboot + self.installed_rejected) == 0


@dataclass(frozen=True, slots=True)  # slots: held by the thousand (issue 13, memory)
class ComplianceSummary:
    """Patch compliance of one instance by severity (ListResourceComplianceSummaries)."""

    instance_id: str
    compliant: bool
    compliant_count: int
    non_compliant_by_severity: Mapping[str, int]


@dataclass(frozen=True)
class ResolvedPatch:
    """A name an operator gave (advisory, CVE, KB, package) and one thing it installs on one
    operating system: a Linux package with its architecture, or a Windows KB id."""

    name: str
    operating_system: str
    install_id: str
    title: str = ""


@dataclass(frozen=True)
class InstancePatch:
    """One patch of one instance as DescribeInstancePatches lists it: what named-patch
    verification, the history store and the report's drill-down all read (one verb for all).

    ``id`` is the KBId on AWS (``name.arch`` on Linux, the KB on Windows); the simulator lists
    one entry per catalog patch (advisory or KB), its packages in ``install_ids``.
    ``severity`` is the vendor's (Critical, Important...); ``compliance_level`` the baseline's
    level where the fleet knows it (the simulator), else the vendor severity mapped onto the
    levels. ``installed_time`` is None when the patch is not installed or the OS does not say;
    ``release_date`` is not given by AWS (the simulator knows its catalog's)."""

    id: str
    state: str
    severity: str = ""
    classification: str = ""
    compliance_level: str = "UNSPECIFIED"
    installed_time: dt.datetime | None = None
    release_date: dt.date | None = None
    install_ids: tuple[str, ...] = ()
    title: str = ""

    @property
    def kb_ids(self) -> tuple[str, ...]:
        """What an InstallOverrideList names for it (the KBId filter matches these)."""
        return self.install_ids or (self.id,)


def patch_states_by_id(patches: Sequence[InstancePatch], install_ids: Sequence[str]) -> dict[str, str]:
    """Install id -> reported state, for those of ``install_ids`` the instance reports."""
    wanted = set(install_ids)
    return {kb: p.state for p in patches for kb in p.kb_ids if kb in wanted}


@dataclass(frozen=True)
class VolumeSnapshot:
    """One EBS snapshot patchwave took of an instance's volume before its install
    (CreateSnapshots / DescribeSnapshots). ``root``: it is of the instance's root volume, the
    one a rollback restores (CreateReplaceRootVolumeTask)."""

    snapshot_id: str
    instance_id: str
    volume_id: str
    root: bool
    state: str  # pending | completed | error (DescribeSnapshots' State)
    message: str = ""  # StateMessage, when the snapshot failed
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotsStarted:
    """What CreateSnapshots did for a batch: the snapshots each instance got, and the
    instances it refused (with the error), which get no install."""

    snapshots: Mapping[str, tuple[VolumeSnapshot, ...]]
    refused: Mapping[str, str]


@dataclass(frozen=True)
class RootVolumeTask:
    """A replace-root-volume task (DescribeReplaceRootVolumeTasks): TaskState pending,
    in-progress, failing, succeeded, failed or failed-detached."""

    task_id: str
    instance_id: str
    state: str
    started: dt.datetime | None = None


@dataclass(frozen=True)
class TargetRegistration:
    """One instance registered in one ELB target group, on one port: DeregisterTargets needs
    the port a target was registered with (without it, a port override is left registered)."""

    target_group_arn: str
    instance_id: str
    port: int | None = None


@dataclass(frozen=True)
class ServiceMembership:
    """Where an instance takes traffic: the target groups it is registered in (not draining)
    and its Auto Scaling group with its lifecycle state (InService, Standby...)."""

    instance_id: str
    targets: tuple[TargetRegistration, ...] = ()
    auto_scaling_group: str = ""
    lifecycle_state: str = ""


@dataclass(frozen=True)
class HookCommand:
    """A pre-install or post-verify hook sent to at most 50 instances: a document (the shell
    ones for a command hook) with its parameters. Its Comment carries a unique token, so an
    ambiguous or unrecorded send is found again (ListCommands), never sent twice."""

    instance_ids: tuple[str, ...]
    document: str
    parameters: tuple[tuple[str, tuple[str, ...]], ...]
    run_id: str
    phase: str  # pre_install | post_verify
    token: str
    timeout_seconds: int = 600

    def __post_init__(self) -> None:
        if not 1 <= len(self.instance_ids) <= MAX_IDS_PER_CALL:
            raise ValueError(f"a command takes 1 to {MAX_IDS_PER_CALL} instance ids")

    @property
    def comment(self) -> str:
        return f"patchwave run {self.run_id} hook {self.phase} {self.token}"


class Fleet(Protocol):
    """What a patch run may ask of a fleet. Every verb accepts any number of ids and chunks
    them by the API's limit itself."""

    def list_instances(self) -> list[ManagedInstance]:
        """Every managed instance, with tags, platform, ping status and state."""
        ...

    def send_patch_command(self, command: PatchCommand) -> str:
        """Start AWS-RunPatchBaseline; returns the command id. Raises InstancesNotFound, having
        started nothing, when one of the ids is no longer a managed node."""
        ...

    def find_command(self, comment: str, since: dt.datetime) -> str | None:
        """The id of the command sent with this Comment since a moment (ListCommands), or None
        when it certainly was not accepted: how a resumed run learns whether the intent a
        killed run wrote was sent."""
        ...

    def command_progress(self, command_ids: Sequence[str]) -> dict[str, CommandProgress]:
        """Counters of those of the commands that are still executing, in as few calls as the
        executing commands take; a command absent from the answer has left the executing
        stage (its invocations say how it ended)."""
        ...

    def list_invocations(self, command_id: str) -> list[Invocation]:
        """Every invocation of one command (paginated)."""
        ...

    def cancel_command(self, command_id: str, instance_ids: Sequence[str]) -> None: ...

    def patch_states(self, instance_ids: Sequence[str]) -> dict[str, InstancePatchState]: ...

    def compliance(self, instance_ids: Sequence[str]) -> dict[str, ComplianceSummary]: ...

    def ping_info(self, instance_ids: Sequence[str]) -> dict[str, PingInfo]:
        """Agent status and last ping of each node still managed; a node absent from the
        answer is not managed any more (terminated, stopped, deregistered)."""
        ...

    def reboot(self, instance_ids: Sequence[str]) -> None:
        """Ask for a reboot (it is only queued: the node goes down some time later). Raises
        InstancesNotFound, having rebooted nothing, when an id is no longer known."""
        ...

    def health(self, instance_ids: Sequence[str]) -> dict[str, str | None]:
        """None for a healthy instance, else the reason it is not."""
        ...

    def resolve_patches(self, names: Sequence[str]) -> list[ResolvedPatch]:
        """What each named advisory, CVE, KB or package installs, per operating system
        (DescribeAvailablePatches); names that match nothing are simply absent."""
        ...

    def instance_patches(
        self, instance_ids: Sequence[str], install_ids: Sequence[str] | None = None
    ) -> dict[str, list[InstancePatch]]:
        """Per instance, each patch its last report lists (DescribeInstancePatches, one instance
        a call, 100 a page), NOT_APPLICABLE included; only those ``install_ids`` name (KBId
        filter) when given. Instances that never reported are absent."""
        ...

    def api_calls(self) -> dict[str, int]:
        """Calls made so far, by API name (for reports and benchmarks)."""
        ...

    # -- gates: CloudWatch alarms and Change Calendars (patchwave/window/gates.py)
    def alarm_states(self, names: Sequence[str]) -> dict[str, str]:
        """The state (OK, ALARM, INSUFFICIENT_DATA) of each named CloudWatch alarm, metric or
        composite (DescribeAlarms, 100 names a call); an alarm that does not exist is absent."""
        ...

    def calendar_states(self, names: Sequence[str], at: dt.datetime) -> dict[str, str]:
        """OPEN or CLOSED for each Change Calendar at a moment (GetCalendarState, one call per
        calendar so a refusal can name the closed one); a calendar that cannot be read is
        absent."""
        ...

    # ----------------------------------------------------------------- snapshot and rollback (issue 16)
    def create_snapshots(self, instance_ids: Sequence[str], tags: Mapping[str, str]) -> SnapshotsStarted:
        """Snapshot every EBS volume of each instance (CreateSnapshots: one call per instance,
        by the API's design), the snapshots tagged with ``tags`` plus the instance id."""
        ...

    def snapshot_states(self, run_id: str, instance_ids: Sequence[str]) -> dict[str, list[VolumeSnapshot]]:
        """This run's snapshots of these instances, as they stand (DescribeSnapshots filtered by
        the run and instance tags, 50 instance ids a call)."""
        ...

    def tagged_snapshots(self) -> list[VolumeSnapshot]:
        """Every snapshot patchwave took that carries a delete-after tag (for pruning)."""
        ...

    def delete_snapshot(self, snapshot_id: str) -> None: ...

    def replace_root_volume(self, instance_id: str, snapshot_id: str, tags: Mapping[str, str]) -> str:
        """Start a replace-root-volume task restoring the snapshot (the instance reboots);
        returns the task id."""
        ...

    def root_volume_tasks(self, task_ids: Sequence[str]) -> dict[str, RootVolumeTask]: ...

    # ----------------------------------------------------------------- drain and hooks (issue 16)
    def service_memberships(
        self, instance_ids: Sequence[str], target_groups: Sequence[str] = ()
    ) -> dict[str, ServiceMembership]:
        """Where each instance takes traffic: its registrations (not draining) in the given
        target groups, or in every instance-type group of the account when none is given
        (DescribeTargetGroups, DescribeTargetHealth per group), and its Auto Scaling group
        (DescribeAutoScalingInstances, 50 ids a call). Instances in neither are absent."""
        ...

    def deregistration_delays(self, target_group_arns: Sequence[str]) -> dict[str, int]:
        """Each group's ``deregistration_delay.timeout_seconds`` (DescribeTargetGroupAttributes)."""
        ...

    def deregister_targets(self, targets: Sequence[TargetRegistration]) -> None: ...

    def register_targets(self, targets: Sequence[TargetRegistration]) -> dict[str, str]:
        """RegisterTargets; returns the instances refused (a terminated one), with the reason."""
        ...

    def target_health(
        self, targets: Sequence[TargetRegistration]
    ) -> dict[TargetRegistration, tuple[str, str]]:
        """State (initial, healthy, unhealthy, draining, unused...) and reason of each target."""
        ...

    def enter_standby(self, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
        """EnterStandby, decrementing the desired capacity (20 ids a call); returns the ids it
        refused, with the reason (the others are in Standby)."""
        ...

    def exit_standby(self, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
        """ExitStandby (20 ids a call); returns the ids it refused, with the reason."""
        ...

    def send_hook_command(self, command: HookCommand) -> str:
        """Start a hook (SendCommand); raises InstancesNotFound, having started nothing, when an
        id is no longer a managed node. Its invocations are read with ``list_invocations``."""
        ...

    def find_hook_command(self, comment: str, since: dt.datetime, document: str) -> str | None:
        """The id of the hook command sent with this Comment since a moment, or None."""
        ...


def chunks(ids: Sequence[str], size: int = MAX_IDS_PER_CALL) -> list[Sequence[str]]:
    """Split ids by an API's limit."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]
