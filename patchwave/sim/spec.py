"""The simulated fleet's spec (``config/fleets/*.yaml``): who is in the fleet and how it behaves."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from patchwave.config.baselines import OperatingSystem, Strict
from patchwave.config.windows import check_instance_ids, check_tag_key
from patchwave.sim.drain import DrainBehaviour, HookBehaviour
from patchwave.sim.gates import SimAlarm, SimCalendar


class Duration(Strict):
    """A heavy-tailed duration in minutes: lognormal given its median and 99th percentile."""

    median: float = Field(gt=0, le=1440)
    p99: float = Field(gt=0, le=2880)

    @model_validator(mode="after")
    def _ordered(self) -> Duration:
        if self.p99 < self.median:
            raise ValueError(f"p99 {self.p99} is below median {self.median}")
        return self


class Throttling(Strict):
    """A token bucket per API, as Systems Manager enforces per account and region."""

    enabled: bool = False
    rate_per_second: float = Field(default=5.0, gt=0, le=10_000)
    burst: int = Field(default=20, ge=1, le=100_000)
    per_api: dict[str, float] = Field(default_factory=dict, description="API name -> rate.")


# Status details of an invocation that never ran (ListCommandInvocations' StatusDetails).
UndeliveredDetail = Literal[
    "Undeliverable", "Terminated", "InvalidPlatform", "AccessDenied", "DeliveryTimedOut"
]


class EbsBehaviour(Strict):
    """EBS snapshots and root volume replacement (snapshot and rollback, issue 16)."""

    volumes_per_instance: int = Field(default=1, ge=1, le=8, description="The root volume and data volumes.")
    snapshot_minutes: Duration = Field(default_factory=lambda: Duration(median=3, p99=15))
    snapshot_failure_rate: float = Field(default=0.0, ge=0, le=1)
    snapshot_failure_ids: list[str] = Field(
        default_factory=list, description="The snapshots of these instances end in state error."
    )
    root_replace_minutes: Duration = Field(default_factory=lambda: Duration(median=4, p99=12))
    root_replace_failure_ids: list[str] = Field(
        default_factory=list, description="Replace-root-volume tasks on these instances end failed."
    )

    @field_validator("snapshot_failure_ids", "root_replace_failure_ids")
    @classmethod
    def _ebs_ids(cls, ids: list[str]) -> list[str]:
        return check_instance_ids(ids)


class Behaviour(Strict):
    """How the simulated fleet behaves; explicit ids make a scenario exact, rates make it
    statistical (drawn from the seed)."""

    install_minutes: Duration = Field(default_factory=lambda: Duration(median=8, p99=40))
    scan_minutes: Duration = Field(default_factory=lambda: Duration(median=1, p99=3))
    reboot_minutes: Duration = Field(default_factory=lambda: Duration(median=2, p99=6))
    install_minutes_by_id: dict[str, float] = Field(
        default_factory=dict, description="Exact install durations for named instances."
    )
    delivery_seconds: float = Field(default=5, ge=0, le=600)
    api_latency_ms: float = Field(default=50, ge=0, le=10_000)
    missing_rate: float = Field(default=0.5, ge=0, le=1, description="Chance a patch is missing.")
    applicable_rate: float = Field(
        default=0.9, ge=0, le=1, description="Chance a catalog patch applies to an instance."
    )
    reboot_rate: float | None = Field(
        default=None, ge=0, le=1, description="Override: chance an install needs a reboot."
    )
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    failing_ids: list[str] = Field(default_factory=list)
    flaky_ids: list[str] = Field(
        default_factory=list, description="Their first install fails, later ones work."
    )
    reboot_hang_rate: float = Field(default=0.0, ge=0, le=1)
    reboot_hang_ids: list[str] = Field(default_factory=list)
    stuck_rate: float = Field(default=0.0, ge=0, le=1, description="Agent stuck InProgress.")
    stuck_ids: list[str] = Field(default_factory=list)
    health_failure_rate: float = Field(default=0.0, ge=0, le=1)
    health_failure_ids: list[str] = Field(default_factory=list)
    throttling: Throttling = Field(default_factory=Throttling)
    # -- where a real account differs from a kind one (docs/architecture.md, "AWS behaviours")
    ping_lag_minutes: float = Field(
        default=5,
        ge=0,
        le=60,
        description="PingStatus stays Online this long after a node went down (reboot, stop): "
        "it is derived from the agent's last ping.",
    )
    ping_interval_seconds: float = Field(
        default=300, gt=0, le=3600, description="How often a running agent pings (LastPingDateTime)."
    )
    shutdown_seconds: float = Field(
        default=20,
        ge=0,
        le=600,
        description="RebootInstances only queues a reboot: the node goes down this long later "
        "(EC2 hard-reboots after 240 s, so never later than that).",
    )
    report_delay_minutes_by_id: dict[str, float] = Field(
        default_factory=dict,
        description="Stale patch state: these nodes upload their report (DescribeInstancePatchStates) "
        "this many minutes after their command ended.",
    )
    terminate_at_minutes: dict[str, float] = Field(
        default_factory=dict,
        description="Instances terminated this many minutes after the start (Auto Scaling scale-in).",
    )
    stop_at_minutes: dict[str, float] = Field(
        default_factory=dict, description="Instances stopped this many minutes after the start."
    )
    status_details_by_id: dict[str, UndeliveredDetail] = Field(
        default_factory=dict,
        description="Invocations on these nodes end with this status detail instead of running.",
    )
    alarms: dict[str, SimAlarm] = Field(
        default_factory=dict, description="CloudWatch alarms by name: when each enters ALARM (gates)."
    )
    calendars: dict[str, SimCalendar] = Field(
        default_factory=dict, description="Change Calendars by name: type and events (gates)."
    )

    ebs: EbsBehaviour = Field(default_factory=EbsBehaviour, description="Snapshots and rollback.")
    drain: DrainBehaviour = Field(default_factory=DrainBehaviour, description="Target groups, Auto Scaling.")
    hooks: HookBehaviour = Field(
        default_factory=HookBehaviour, description="Pre/post hooks that fail or hang."
    )

    @field_validator("report_delay_minutes_by_id", "terminate_at_minutes", "stop_at_minutes")
    @classmethod
    def _non_negative(cls, values: dict[str, float]) -> dict[str, float]:
        check_instance_ids(list(values))
        for instance_id, minutes in values.items():
            if minutes < 0:
                raise ValueError(f"{instance_id}: {minutes} is negative")
        return values

    @field_validator("status_details_by_id")
    @classmethod
    def _detail_ids(cls, values: dict[str, str]) -> dict[str, str]:
        check_instance_ids(list(values))
        return values


class InstanceGroup(Strict):
    """Instances that share platform, tags and state: by count (ids derived from the seed) or
    by explicit ids."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_.\-]{1,64}$")
    count: int | None = Field(default=None, ge=1, le=1_000_000)
    ids: list[str] = Field(default_factory=list)
    platform: OperatingSystem
    on_premises: bool = False
    tags: dict[str, str] = Field(default_factory=dict)
    ping_status: Literal["Online", "ConnectionLost", "Inactive"] = "Online"
    state: Literal["running", "stopped"] = "running"

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key in tags:
            check_tag_key(key)
        return tags

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return check_instance_ids(ids)

    @model_validator(mode="after")
    def _count_or_ids(self) -> InstanceGroup:
        if (self.count is None) == (not self.ids):
            raise ValueError(f"group {self.name!r}: give exactly one of count or ids")
        return self


class ClockSpec(Strict):
    mode: Literal["virtual", "scaled"] = "virtual"
    speed: float = Field(default=600, gt=0, le=1_000_000, description="Scaled: sim seconds per second.")


class FleetSpec(Strict):
    """``config/fleets/<name>.yaml``."""

    seed: int = 0
    start: dt.datetime = Field(description="Simulated time at which the fleet starts (UTC).")
    clock: ClockSpec = Field(default_factory=ClockSpec)
    groups: list[InstanceGroup] = Field(min_length=1)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    state_file: str | None = Field(
        default=None,
        description="Keep the fleet's state (and its clock) in this file, so that it outlives the "
        "process: a run that dies can be resumed against the same fleet.",
    )

    @field_validator("start")
    @classmethod
    def _aware(cls, start: dt.datetime) -> dt.datetime:
        return start if start.tzinfo else start.replace(tzinfo=dt.UTC)

    @model_validator(mode="after")
    def _unique(self) -> FleetSpec:
        names: set[str] = set()
        ids: set[str] = set()
        for group in self.groups:
            if group.name in names:
                raise ValueError(f"groups: two groups are named {group.name!r}")
            names.add(group.name)
            for instance_id in group.ids:
                if instance_id in ids:
                    raise ValueError(f"groups: instance {instance_id!r} is listed twice")
                ids.add(instance_id)
        return self
